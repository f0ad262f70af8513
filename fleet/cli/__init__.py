"""The ``fleet`` command line: one module per noun, each with ``register(app)``."""
