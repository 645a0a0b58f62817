"""The user config file: ``config.toml`` in the XDG config directory, readable only by its owner.

Its directory is ``$AGNT_CONFIG_DIR`` when set, else platformdirs' user config dir for
``agnt`` (``~/.config/agnt`` on Linux, honouring ``$XDG_CONFIG_HOME``). The file is
written whole (temp file + rename) with mode 0600, since it may hold an API key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agnt_cli.errors import CliError, usage_error
from agnt_cli.exit_codes import ExitCode

CONFIG_KEYS: tuple[str, ...] = ("api_url", "api_key")
CONFIG_DIR_ENV = "AGNT_CONFIG_DIR"
CONFIG_FILE_NAME = "config.toml"


def config_path() -> Path:
    """Where the config file is (it may not exist yet)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override) / CONFIG_FILE_NAME
    from platformdirs import user_config_path

    return user_config_path("agnt", appauthor=False) / CONFIG_FILE_NAME


def check_key(key: str) -> str:
    """``key`` when it is a known setting, else a usage error listing the known ones."""
    if key not in CONFIG_KEYS:
        raise usage_error(
            f"unknown config key {key!r}; known keys: {', '.join(CONFIG_KEYS)}",
            "unknown_config_key",
        )
    return key


def check_value(key: str, value: str) -> str:
    """``value`` when it is acceptable for ``key``, else a usage error saying why."""
    if not value or not value.isprintable() or any(c.isspace() for c in value):
        raise usage_error(
            f"{key}: expected a non-empty value without spaces or control characters",
            "invalid_config_value",
        )
    if key == "api_url" and not value.startswith(("http://", "https://")):
        raise usage_error(
            f"api_url: expected an http:// or https:// URL, got {value!r}", "invalid_config_value"
        )
    return value


def read_config(path: Path) -> dict[str, str]:
    """The settings stored in ``path``; empty when the file does not exist."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CliError("config_unreadable", f"cannot read {path}: {exc}", ExitCode.GENERAL) from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CliError(
            "config_invalid", f"{path} is not valid TOML: {exc}", ExitCode.GENERAL
        ) from exc
    values: dict[str, str] = {}
    for key, value in document.items():
        if key in CONFIG_KEYS and isinstance(value, str):
            values[key] = value
        elif key in CONFIG_KEYS:
            raise CliError("config_invalid", f"{path}: {key} must be a string", ExitCode.GENERAL)
    return values


def render_config(values: dict[str, str]) -> str:
    """The TOML text of the config file for ``values`` (strings only)."""
    lines = ["# agnt settings; edit with `agnt config set|unset`"]
    # A JSON string without ASCII escaping is a valid TOML basic string for the printable,
    # space-free values that check_value lets through.
    lines += [
        f"{key} = {json.dumps(values[key], ensure_ascii=False)}"
        for key in CONFIG_KEYS
        if key in values
    ]
    return "\n".join(lines) + "\n"


def write_config(path: Path, values: dict[str, str]) -> None:
    """Replace the config file with ``values``: mode 0600, directory 0700, atomically."""
    import tempfile

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkstemp creates the file 0600 from the start, so the key is never world-readable.
    fd, temp_name = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_config(values))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o600)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
