"""agnt executor."""

__version__ = "0.1.0"
