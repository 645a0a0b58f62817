"""``agnt config``: the XDG config file, mode 0600, the key shown only as a prefix, precedence."""

from __future__ import annotations

import stat
from pathlib import Path

from agnt_cli.settings import DEFAULT_API_URL

API_KEY = "agnt_test_secret_key_0123456789abcdef"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_path_is_in_agnt_config_dir_and_missing_at_first(agnt, config_dir: Path) -> None:
    assert agnt("config", "path").ok() == {
        "path": str(config_dir / "config.toml"),
        "exists": False,
    }


def test_path_follows_xdg_config_home(agnt, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    document = agnt(
        "config", "path", env={"AGNT_CONFIG_DIR": None, "XDG_CONFIG_HOME": str(xdg)}
    ).ok()
    assert document["path"] == str(xdg / "agnt" / "config.toml")


def test_set_writes_a_file_only_its_owner_can_read(agnt, config_dir: Path) -> None:
    document = agnt("config", "set", "api_url", "http://127.0.0.1:9").ok()
    assert document == {
        "key": "api_url",
        "value": "http://127.0.0.1:9",
        "source": "config",
        "path": str(config_dir / "config.toml"),
    }
    assert mode_of(config_dir / "config.toml") == 0o600
    assert mode_of(config_dir) == 0o700
    assert agnt("config", "get", "api_url").ok() == {
        "key": "api_url",
        "value": "http://127.0.0.1:9",
        "source": "config",
    }


def test_set_keeps_mode_0600_when_the_file_was_wider(agnt, config_dir: Path) -> None:
    agnt("config", "set", "api_url", "http://a.example").ok()
    (config_dir / "config.toml").chmod(0o644)
    agnt("config", "set", "api_url", "http://b.example").ok()
    assert mode_of(config_dir / "config.toml") == 0o600


def test_api_key_from_stdin_is_stored_but_never_printed(agnt, config_dir: Path) -> None:
    set_run = agnt("config", "set", "api_key", "-", input=API_KEY + "\n")
    assert set_run.ok()["prefix"] == API_KEY[:8]
    get_run = agnt("config", "get", "api_key")
    assert get_run.ok() == {"key": "api_key", "prefix": API_KEY[:8], "source": "config"}
    list_run = agnt("config", "list")
    for run in (set_run, get_run, list_run):
        assert API_KEY not in run.stdout + run.stderr
    assert API_KEY in (config_dir / "config.toml").read_text()


def test_list_shows_every_key_with_its_source(agnt, config_dir: Path) -> None:
    agnt("config", "set", "api_key", API_KEY).ok()
    assert agnt("config", "list").ok() == {
        "path": str(config_dir / "config.toml"),
        "settings": [
            {"key": "api_url", "value": DEFAULT_API_URL, "source": "default"},
            {"key": "api_key", "prefix": API_KEY[:8], "source": "config"},
        ],
    }


def test_unset_removes_a_key_and_says_whether_it_was_there(agnt) -> None:
    agnt("config", "set", "api_url", "http://a.example").ok()
    assert agnt("config", "unset", "api_url").ok()["removed"] is True
    assert agnt("config", "unset", "api_url").ok()["removed"] is False
    assert agnt("config", "get", "api_url").ok()["source"] == "default"


def test_get_reports_flag_over_env_over_file(agnt) -> None:
    agnt("config", "set", "api_url", "http://file.example").ok()
    env = {"AGNT_API_URL": "http://env.example"}
    assert agnt("config", "get", "api_url").ok()["value"] == "http://file.example"
    assert agnt("config", "get", "api_url", env=env).ok() == {
        "key": "api_url",
        "value": "http://env.example",
        "source": "env",
    }
    assert agnt("--api-url", "http://flag.example", "config", "get", "api_url", env=env).ok() == {
        "key": "api_url",
        "value": "http://flag.example",
        "source": "flag",
    }


def test_unknown_key_is_a_usage_error(agnt) -> None:
    run = agnt("config", "set", "colour", "blue")
    assert run.exit_code == 2
    assert run.error()["code"] == "unknown_config_key"
    assert agnt("config", "get", "colour").error()["code"] == "unknown_config_key"


def test_a_url_that_is_not_http_is_refused(agnt) -> None:
    run = agnt("config", "set", "api_url", "ftp://example")
    assert run.exit_code == 2
    assert run.error()["code"] == "invalid_config_value"


def test_a_key_with_spaces_is_refused(agnt) -> None:
    run = agnt("config", "set", "api_key", "-", input="two words\n")
    assert run.exit_code == 2
    assert run.error()["code"] == "invalid_config_value"


def test_a_broken_config_file_is_a_general_error_naming_it(agnt, config_dir: Path) -> None:
    config_dir.mkdir()
    (config_dir / "config.toml").write_text("api_url = [unclosed\n")
    run = agnt("config", "get", "api_url")
    assert run.exit_code == 1
    error = run.error()
    assert error["code"] == "config_invalid"
    assert str(config_dir / "config.toml") in error["message"]


def test_config_without_subcommand_is_a_usage_error(agnt) -> None:
    run = agnt("config")
    assert run.exit_code == 2
    assert run.error()["code"] == "usage_error"
