"""Usage errors (exit 2) come out as one JSON error object, without reaching any API.

``--api-url`` points at a closed port in these tests: a call that reached for the network
would fail with exit 6 instead of the usage error expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

JOB_ID = "6f1c1c55-0f6b-4d6e-9a43-5b1d7f7e1a01"


@pytest.fixture
def offline(agnt, closed_port_url: str):
    """``agnt`` with a key and an API URL where nothing listens."""

    def run(*args: str, **kwargs):
        return agnt("--api-url", closed_port_url, "--api-key", "k" * 24, *args, **kwargs)

    return run


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("search", "--bogus"), "usage_error", "--bogus"),
        ((), "usage_error", "missing command"),
        (("frobnicate",), "usage_error", "frobnicate"),
        (("info",), "usage_error", "AGENT_ID"),
        (("search", "--limit", "0"), "usage_error", "--limit"),
        (("jobs", "--limit", "101"), "usage_error", "--limit"),
        (("jobs", "--status", "finished"), "invalid_status", "pending"),
        (("jobs", "--all", "--cursor", "abc"), "conflicting_options", "--cursor"),
        (("status", "not-a-uuid"), "invalid_job_id", "not-a-uuid"),
        (("cancel", "42"), "invalid_job_id", "42"),
        (("result", "nope"), "invalid_job_id", "nope"),
        (("status", JOB_ID, "--timeout", "3"), "conflicting_options", "--wait"),
        (("order", "demo-echo"), "missing_prompt", "--prompt"),
        (
            ("order", "demo-echo", "-p", "x", "--webhook-event", "completed"),
            "conflicting_options",
            "--webhook",
        ),
        (
            ("order", "demo-echo", "-p", "x", "--webhook", "ftp://x.example"),
            "invalid_webhook",
            "url",
        ),
        (
            (
                "order",
                "demo-echo",
                "-p",
                "x",
                "--webhook",
                "https://x.example",
                "--webhook-event",
                "done",
            ),
            "invalid_webhook",
            "events",
        ),
        (("events", "nope"), "invalid_job_id", "nope"),
        (("logs", "nope", "--follow"), "invalid_job_id", "nope"),
        (("events", JOB_ID, "--after", "-1"), "usage_error", "--after"),
        (("order", "demo-echo", "-p", "x", "--prompt-file", "f"), "missing_prompt", "--prompt"),
        (("order", "demo-echo", "-p", "x", "--param", "count"), "invalid_param", "'count'"),
        (("order", "demo-echo", "-p", "x", "--param", "a..b=1"), "invalid_param", "'a..b=1'"),
        (
            ("order", "demo-echo", "-p", "x", "--param", "a=1", "--param", "a.b=2"),
            "invalid_param",
            "'a.b=2'",
        ),
        (
            ("order", "demo-echo", "--prompt-file", "missing.txt"),
            "invalid_prompt_file",
            "missing.txt",
        ),
        (
            ("order", "demo-echo", "-p", "x", "--params-file", "missing.json"),
            "invalid_params_file",
            "missing.json",
        ),
        (
            ("order", "demo-echo", "--prompt-file", "-", "--params-file", "-"),
            "usage_error",
            "stdin",
        ),
        (("order", "demo-echo", "-p", "x", "--timeout", "5"), "conflicting_options", "--wait"),
        (("--request-timeout", "0", "jobs"), "usage_error", "--request-timeout"),
        (
            ("order", "demo-echo", "-p", "x", "--timeout-seconds", "0"),
            "invalid_timeout",
            "--timeout-seconds",
        ),
    ],
)
def test_usage_error_is_exit_2_with_a_json_error(offline, args, code: str, needle: str) -> None:
    run = offline(*args)
    assert run.exit_code == 2, run
    assert run.stdout == ""
    error = run.error()
    assert error["code"] == code
    assert error["status"] is None
    assert needle in error["message"]


def test_params_file_that_is_not_an_object_is_a_usage_error(offline, tmp_path: Path) -> None:
    params_file = tmp_path / "params.json"
    params_file.write_text("[1, 2]")
    run = offline("order", "demo-echo", "-p", "x", "--params-file", str(params_file))
    assert run.exit_code == 2
    assert run.error()["code"] == "invalid_params_file"


def test_help_is_plain_text_with_the_exit_code_table(agnt) -> None:
    run = agnt("--help")
    assert run.exit_code == 0
    for line in (
        "0  success",
        "3  not found",
        "5  conflict",
        "6  network",
        "7  timeout",
        "8  under --wait",
    ):
        assert line in run.stdout
    for command in (
        "search",
        "info",
        "stats",
        "order",
        "jobs",
        "status",
        "result",
        "cancel",
        "config",
    ):
        assert f"  {command} " in run.stdout


@pytest.mark.parametrize("command", ["order", "result", "config"])
def test_each_command_has_help(agnt, command: str) -> None:
    run = agnt(command, "--help")
    assert run.exit_code == 0
    assert run.stdout.startswith(f"Usage: agnt {command}")


def test_version_is_json(agnt) -> None:
    from agnt_cli import __version__

    assert agnt("--version").ok()["version"] == __version__
    assert agnt("--api-url", "http://x.example", "--version").ok()["name"] == "agnt"


def test_shell_completion_script_is_offered(agnt) -> None:
    # What `agnt --install-completion` installs for bash (the shell is named, not detected).
    run = agnt(env={"_AGNT_COMPLETE": "source_bash"})
    assert run.exit_code == 0
    assert "_agnt_completion()" in run.stdout
    assert "_AGNT_COMPLETE=complete_bash" in run.stdout


def test_readme_table_lists_every_exit_code_as_help_does() -> None:
    from agnt_cli.exit_codes import EXIT_CODE_MEANINGS

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for code, meaning in EXIT_CODE_MEANINGS.items():
        assert f"| {code.value} | {meaning} |" in readme


def test_bash_completion_offers_job_statuses(agnt) -> None:
    run = agnt(
        env={
            "_AGNT_COMPLETE": "complete_bash",
            "COMP_WORDS": "agnt jobs --status r",
            "COMP_CWORD": "3",
        }
    )
    assert run.exit_code == 0
    assert run.stdout.split() == ["rejected", "running"]
