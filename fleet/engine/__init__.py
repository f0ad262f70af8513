"""The graph engine: blocks, graph files, validation, durable execution and tracking."""
