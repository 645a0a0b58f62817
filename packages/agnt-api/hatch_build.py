"""Ship the top-level ``migrations/`` inside the agnt-api wheel as ``agnt_api/migrations``.

The directory lives at the repository's top level (``../../migrations`` from this file);
the sdist carries it at its own top level (``migrations/``, see pyproject.toml), so a wheel
built from the sdist finds it there. An editable install ships no copy: a copy would go
stale as revisions are added, and ``agnt_api.db.migrate`` reads the checkout's instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WHEEL_PATH = "agnt_api/migrations"


class MigrationsHook(BuildHookInterface):
    """Force-include the Alembic environment into regular (non-editable) wheels."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        for candidate in (root / "migrations", root.parent.parent / "migrations"):
            if (candidate / "env.py").is_file():
                build_data["force_include"][str(candidate)] = WHEEL_PATH
                return
        raise RuntimeError(
            f"no migrations/ beside {root} (sdist) or at the repository top level: "
            "build agnt-api from a checkout or from its sdist"
        )
