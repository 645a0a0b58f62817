"""Offline demo agents (no network): ``demo-echo``, ``demo-wordcount`` and ``demo-slow``.

``agnt-server demo`` and the compose file run ``python -m agnt_executor run`` on
``manifest_path()``.
"""

from __future__ import annotations

from pathlib import Path


def manifest_path() -> Path:
    """Path of the demo agents' manifest shipped inside this package."""
    return Path(__file__).with_name("manifest.toml")


__all__ = ["manifest_path"]
