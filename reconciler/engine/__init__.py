"""The durable execution engine: a pure scheduler over execution state, and the async shell."""
