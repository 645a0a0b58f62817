"""Settings precedence as a pure function: flag > environment > config file > default."""

from __future__ import annotations

import pytest

from agnt_cli.settings import DEFAULT_API_URL, key_prefix, resolve_settings

FILE = {"api_url": "http://file.example", "api_key": "file-key-0123456789"}
ENV = {"AGNT_API_URL": "http://env.example", "AGNT_API_KEY": "env-key-0123456789"}
FLAGS = {"api_url": "http://flag.example", "api_key": "flag-key-0123456789"}


def test_flag_beats_env_beats_file() -> None:
    settings = resolve_settings(FLAGS, ENV, lambda: FILE)
    assert (settings.api_url.value, settings.api_url.source) == ("http://flag.example", "flag")
    settings = resolve_settings({}, ENV, lambda: FILE)
    assert (settings.api_key.value, settings.api_key.source) == ("env-key-0123456789", "env")
    settings = resolve_settings({}, {}, lambda: FILE)
    assert (settings.api_url.value, settings.api_url.source) == ("http://file.example", "config")


def test_without_any_source_the_url_is_the_demo_default_and_there_is_no_key() -> None:
    settings = resolve_settings({"api_url": None}, {}, dict)
    assert (settings.api_url.value, settings.api_url.source) == (DEFAULT_API_URL, "default")
    assert (settings.api_key.value, settings.api_key.source) == (None, "default")


def test_empty_flag_or_env_counts_as_unset() -> None:
    settings = resolve_settings({"api_url": ""}, {"AGNT_API_URL": ""}, lambda: FILE)
    assert settings.api_url.source == "config"


def test_sources_mix_per_key() -> None:
    settings = resolve_settings({"api_key": "k" * 20}, {"AGNT_API_URL": "http://e"}, lambda: FILE)
    assert settings.api_key.source == "flag"
    assert settings.api_url.source == "env"


def test_config_file_is_not_read_when_flags_and_env_decide() -> None:
    def unreadable() -> dict[str, str]:
        raise AssertionError("config file read")

    settings = resolve_settings(FLAGS, {}, unreadable)
    assert settings.api_url.source == "flag"


@pytest.mark.parametrize(
    ("key", "prefix"), [("agnt_b_0123456789abcdef0123", "agnt_b_0"), ("abcdef", "ab"), ("ab", "")]
)
def test_key_prefix_shows_at_most_eight_characters_and_under_a_third(key: str, prefix: str) -> None:
    assert key_prefix(key) == prefix
