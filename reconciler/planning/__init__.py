"""``reconciler plan``: what an alert would start, without starting anything."""
