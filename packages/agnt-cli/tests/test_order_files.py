"""``agnt order --file``: checked before anything is sent (exit 2), uploaded otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def offline(agnt: Any, closed_port_url: str) -> Any:
    """``agnt`` pointed where nothing listens: a call that reached out would exit 6."""

    def run(*args: str, **kwargs: Any) -> Any:
        return agnt("--api-url", closed_port_url, "--api-key", "k" * 24, *args, **kwargs)

    return run


def test_missing_file_is_exit_2_invalid_file_before_any_request(
    offline: Any, tmp_path: Path
) -> None:
    result = offline("order", "cli-echo", "-p", "x", "--file", str(tmp_path / "nope.bin"))
    assert result.exit_code == 2
    assert result.error()["code"] == "invalid_file"
    assert "nope.bin" in result.error()["message"]


def test_only_one_option_reads_stdin(offline: Any) -> None:
    result = offline("order", "cli-echo", "--prompt-file", "-", "--file", "-", input="x")
    assert result.exit_code == 2
    assert result.error()["code"] == "conflicting_options"


def test_files_are_uploaded_as_the_jobs_inputs(
    buyer: Any, echo_agent: str, live_api: Any, tmp_path: Path
) -> None:
    from agnt_client import Client

    source = tmp_path / "table.csv"
    source.write_text("a,b\n1,2\n")
    result = buyer("order", echo_agent, "-p", "x", "--file", str(source), "-f", "-", input="piped")
    assert result.exit_code == 0, result.stderr
    job_id = json.loads(result.stdout)["id"]
    with Client(live_api.url, live_api.buyer_key) as client:
        listed = client.job_inputs(job_id)
    assert [(f.name, f.size) for f in listed.files] == [("table.csv", 8), ("stdin", 5)]
