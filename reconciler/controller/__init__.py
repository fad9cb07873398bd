"""The Git reconcile loop: fetch → load → validate → activate → summarize (Flux's shape)."""
