"""The agnt-client release; sent as ``User-Agent: agnt-client/<version>``."""

__version__ = "0.1.0"
