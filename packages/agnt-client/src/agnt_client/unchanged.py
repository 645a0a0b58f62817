"""The ``with_options`` sentinel: "keep this setting", distinct from ``None``."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Unchanged(Enum):
    """Type of ``UNCHANGED``: a keyword left at it keeps the client's current setting."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED
"""Default of every ``with_options`` keyword (``None`` is a real value for some of them)."""


def given(**values: Any) -> dict[str, Any]:
    """Only the keywords that were actually passed."""
    return {name: value for name, value in values.items() if value is not UNCHANGED}
