"""The API key: stripped where it is read, never echoed, and a warning for ``--api-key``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agnt_cli.settings import resolve_settings

KEY = "agnt_test_secret_key_0123456789abcdef"


def test_keys_from_every_source_are_stripped_and_blank_ones_are_unset() -> None:
    assert resolve_settings({"api_key": f" {KEY}\n"}, {}, dict).api_key.value == KEY
    assert resolve_settings({}, {"AGNT_API_KEY": f"{KEY}\r\n"}, dict).api_key.value == KEY
    from_file = resolve_settings({"api_key": " "}, {"AGNT_API_KEY": "\n"}, lambda: {"api_key": KEY})
    assert (from_file.api_key.value, from_file.api_key.source) == (KEY, "config")
    stored_with_newline = resolve_settings({}, {}, lambda: {"api_key": f"{KEY}\n"})
    assert stored_with_newline.api_key.value == KEY


def test_api_key_flag_warns_that_other_users_can_see_it(agnt: Any) -> None:
    run = agnt("--api-key", KEY, "config", "get", "api_key")
    assert run.exit_code == 0
    assert run.json() == {"key": "api_key", "prefix": KEY[:8], "source": "flag"}
    (line,) = run.stderr.splitlines()
    warning = json.loads(line)["warning"]
    assert warning["code"] == "api_key_on_command_line"
    assert "other local users" in warning["message"]
    assert "AGNT_API_KEY" in warning["message"]
    assert "agnt config set api_key -" in warning["message"]
    assert KEY not in run.stderr


def test_a_key_from_the_environment_gives_no_warning(agnt: Any) -> None:
    assert agnt("config", "get", "api_key", env={"AGNT_API_KEY": KEY}).ok()["source"] == "env"


def test_config_set_api_key_dash_reads_stdin_and_strips_it(agnt: Any, config_dir: Path) -> None:
    run = agnt("config", "set", "api_key", "-", input=f"  {KEY} \r\n")
    assert run.ok()["prefix"] == KEY[:8]
    assert f'api_key = "{KEY}"' in (config_dir / "config.toml").read_text()
    assert KEY not in run.stdout + run.stderr


def test_a_key_with_a_space_inside_is_a_clear_error_that_does_not_show_it(
    agnt: Any, closed_port_url: str
) -> None:
    bad = f"{KEY[:12]} {KEY[12:]}"
    run = agnt("--api-url", closed_port_url, "jobs", env={"AGNT_API_KEY": bad})
    assert run.exit_code == 1
    error = run.error()
    assert "is not a valid API key: it contains a space" in error["message"]
    assert KEY[:12] not in run.stderr and KEY[12:] not in run.stderr


def test_a_key_with_a_trailing_newline_works_against_the_api(buyer: Any, live_api: Any) -> None:
    run = buyer("jobs", env={"AGNT_API_KEY": live_api.buyer_key + "\n"})
    assert run.ok()["items"] == []
