"""The action catalogue: every action's parameter schema, flags and (where landed) implementation."""
