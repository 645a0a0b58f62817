"""Where the API URL and key come from: flag, then environment, then config file, then default."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

DEFAULT_API_URL = "http://127.0.0.1:8000"
"""Where ``agnt-server demo`` listens by default."""

ENV_VARS: dict[str, str] = {"api_url": "AGNT_API_URL", "api_key": "AGNT_API_KEY"}
DEFAULTS: dict[str, str | None] = {"api_url": DEFAULT_API_URL, "api_key": None}


@dataclass(frozen=True)
class Setting:
    """One effective setting and where it came from (flag, env, config or default)."""

    key: str
    value: str | None
    source: str


@dataclass(frozen=True)
class Settings:
    """The settings an API call uses."""

    api_url: Setting
    api_key: Setting

    def get(self, key: str) -> Setting:
        """The setting named ``key`` (one of the config keys)."""
        setting: Setting = getattr(self, key)
        return setting


def resolve_settings(
    flags: Mapping[str, str | None],
    environ: Mapping[str, str],
    load_config: Callable[[], Mapping[str, str]],
) -> Settings:
    """Pick each setting from the first source that has it; the config file is read only if needed.

    Values are stripped of surrounding whitespace (a key pasted or mounted with its newline
    still works); an empty or whitespace-only flag or variable counts as unset.
    """
    config: Mapping[str, str] | None = None

    def pick(key: str) -> Setting:
        nonlocal config
        flag = _stripped(flags.get(key))
        if flag:
            return Setting(key, flag, "flag")
        env = _stripped(environ.get(ENV_VARS[key]))
        if env:
            return Setting(key, env, "env")
        if config is None:
            config = load_config()
        stored = _stripped(config.get(key))
        if stored:
            return Setting(key, stored, "config")
        return Setting(key, DEFAULTS[key], "default")

    return Settings(api_url=pick("api_url"), api_key=pick("api_key"))


def _stripped(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def key_prefix(api_key: str) -> str:
    """The part of an API key that may be shown: at most 8 characters, under a third of it."""
    return api_key[: min(8, len(api_key) // 3)]
