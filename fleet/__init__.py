"""fleet: the execution backbone for agent and workflow platforms."""

__version__ = "0.1.0"
