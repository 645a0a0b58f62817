"""What a handler's child process sees of the executor's environment, and what is masked.

Real child processes: the command handler runs ``env`` (or a script) and the test reads
what the child printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agnt_executor.handlers import (
    CommandHandler,
    CommandSettings,
    GeminiHandler,
    GeminiSettings,
    HandlerError,
    PythonSettings,
)
from agnt_executor.handlers.base import JobContext
from agnt_executor.handlers.environment import child_environment
from agnt_executor.manifest import ManifestError, load_manifest, parse_manifest
from agnt_models.common import MAX_REASON_CHARS

MakeContext = Callable[..., JobContext]
FakeBin = Callable[[str, str], Path]

EXECUTOR_KEY = "agnt_executor_key_that_must_stay_home"


@pytest.fixture
def executor_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor runs with its key, its URL and unrelated variables in its environment."""
    monkeypatch.setenv("AGNT_API_KEY", EXECUTOR_KEY)
    monkeypatch.setenv("AGNT_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-not-named")
    monkeypatch.setenv("PASSED_VAR", "passed-value")
    monkeypatch.setenv("AGENT_TOKEN", "tok-9f8e7d6c5b4a")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.delenv("MISSING_VAR", raising=False)


def printed_env(ctx: JobContext) -> dict[str, str]:
    lines = (ctx.output_dir / "stdout.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.mark.usefixtures("executor_environ")
async def test_a_child_sees_only_the_base_its_job_and_what_the_manifest_names(
    tmp_path: Path, make_context: MakeContext
) -> None:
    settings = CommandSettings(
        argv=["env"],
        env={"LITERAL": "from-manifest"},
        pass_env=["PASSED_VAR", "MISSING_VAR"],
        secrets=["AGENT_TOKEN"],
    )
    ctx = make_context()
    await CommandHandler(settings, tmp_path).run(ctx)
    env = printed_env(ctx)
    assert EXECUTOR_KEY not in (ctx.output_dir / "stdout.txt").read_text()
    job_vars = {"AGNT_JOB_ID", "AGNT_AGENT_ID", "AGNT_PARAMS_JSON", "AGNT_OUTPUT_DIR"}
    assert set(env) - {"PATH", "HOME", "LANG", "LC_TIME", "TMPDIR", "TZ", "LANGUAGE"} == {
        "LITERAL",
        "PASSED_VAR",
        "AGENT_TOKEN",
        "AGNT_WORK_DIR",
        *job_vars,
    }
    assert env["LITERAL"] == "from-manifest"
    assert env["PASSED_VAR"] == "passed-value"
    assert env["AGENT_TOKEN"] == "tok-9f8e7d6c5b4a"  # masked later, on the way to the buyer
    assert env["LANG"] == "C.UTF-8" and env["LC_TIME"] == "C"
    assert env["AGNT_JOB_ID"] == str(ctx.job.id)


def test_the_job_variables_win_over_the_manifest() -> None:
    settings = CommandSettings(argv=["x"], env={"AGNT_JOB_ID": "forged"})
    env = child_environment(settings, {"AGNT_JOB_ID": "real"}, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "AGNT_JOB_ID": "real"}


@pytest.mark.parametrize("field", ["pass_env", "secrets"])
def test_a_manifest_naming_the_executor_key_is_refused_at_load(field: str) -> None:
    text = (
        '[[agents]]\nid = "a1"\nname = "x"\n'
        f'handler = {{ type = "command", argv = ["env"], {field} = ["AGNT_API_KEY"] }}\n'
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text)
    message = str(caught.value)
    assert f"agents.0.handler.command: Value error, {field} names AGNT_API_KEY" in message
    assert "never reaches a handler" in message


def test_python_and_gemini_secrets_refuse_the_executor_key_too() -> None:
    for handler in ('type = "python", callable = "json:dumps"', 'type = "gemini"'):
        text = f'[[agents]]\nid = "a1"\nname = "x"\nhandler = {{ {handler}, secrets = ["AGNT_API_KEY"] }}\n'
        with pytest.raises(ManifestError, match="secrets names AGNT_API_KEY"):
            parse_manifest(text)


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ('env = { "A B" = "x" }', "String should match pattern"),
        ('pass_env = ["1BAD"]', "String should match pattern"),
        ('env = { X = "1" }, pass_env = ["X"]', "X: named in both env and pass_env"),
    ],
)
def test_bad_environment_names_are_refused(handler: str, message: str) -> None:
    text = f'[[agents]]\nid = "a1"\nname = "x"\nhandler = {{ type = "command", argv = ["env"], {handler} }}\n'
    with pytest.raises(ManifestError, match=message):
        parse_manifest(text)


async def test_stdout_and_stderr_files_can_be_turned_off_in_the_manifest(
    tmp_path: Path, make_context: MakeContext
) -> None:
    manifest = tmp_path / "m.toml"
    code = "import sys; print('out'); sys.stderr.write('err')"
    manifest.write_text(
        '[[agents]]\nid = "quiet"\nname = "Quiet"\n'
        f'handler = {{ type = "command", argv = ["{sys.executable}", "-c", "{code}"], '
        "stdout_file = false, stderr_file = false }\n"
    )
    served = load_manifest(manifest).agents["quiet"]
    ctx = make_context()
    await served.handler.run(ctx)
    assert list(ctx.output_dir.iterdir()) == []
    gemini = parse_manifest(
        '[[agents]]\nid = "gem"\nname = "G"\nhandler = { type = "gemini", stderr_file = false }\n'
    ).agents[0]
    assert isinstance(gemini.handler, GeminiSettings)
    assert gemini.handler.as_command().stderr_file is None


@pytest.mark.usefixtures("executor_environ")
async def test_a_failure_reason_carries_the_masked_stderr_tail(
    tmp_path: Path, make_context: MakeContext
) -> None:
    code = (
        "import os, sys; sys.stderr.write('noise ' * 2000 + 'token ' + os.environ['AGENT_TOKEN']"
        " + ' rejected'); sys.exit(2)"
    )
    settings = CommandSettings(
        argv=[sys.executable, "-c", code], secrets=["AGENT_TOKEN"], stderr_file=None
    )
    with pytest.raises(HandlerError) as caught:
        await CommandHandler(settings, tmp_path).run(make_context())
    message = str(caught.value)
    assert message.endswith("noise token *** rejected")
    assert "tok-9f8e7d6c5b4a" not in message
    assert len(message) <= MAX_REASON_CHARS


async def test_a_word_cut_by_the_tail_is_dropped_whole(
    tmp_path: Path, make_context: MakeContext
) -> None:
    # A key the handler does not know (say, read from /proc by a hostile child) is masked
    # later by the executor; a cut through it must not leave its last characters behind.
    prefix = "command exited with status 2: "
    budget = MAX_REASON_CHARS - len(prefix) - 2
    token = "agnt_" + "0123456789abcdefghijklmnopqrstuvwxyz"[:35]
    filler = " x" * (budget // 2 - 10)
    code = f"import sys; sys.stderr.write('start ' + {token!r} + {filler!r}); sys.exit(2)"
    with pytest.raises(HandlerError) as caught:
        await command_run(tmp_path, make_context(), [sys.executable, "-c", code])
    message = str(caught.value)
    assert token[-20:] not in message
    assert message.startswith(prefix + "x x")


async def command_run(tmp_path: Path, ctx: JobContext, argv: list[str]) -> None:
    await CommandHandler(CommandSettings(argv=argv), tmp_path).run(ctx)


FAKE_GEMINI_ENV = """
import json, os
print(json.dumps(dict(os.environ)))
"""


@pytest.mark.usefixtures("executor_environ")
async def test_gemini_gets_its_keys_and_cloud_settings_but_not_the_executor_key(
    tmp_path: Path,
    make_context: MakeContext,
    fake_bin_on_path: FakeBin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    monkeypatch.setenv("GEMINI_API_KEY", "gem-key-123456")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    fake_bin_on_path("gemini", FAKE_GEMINI_ENV)
    settings = GeminiSettings(pass_env=["PASSED_VAR"])
    ctx = make_context()
    await GeminiHandler(settings, tmp_path).run(ctx)
    env = json.loads((ctx.output_dir / "answer.md").read_text())
    assert env["GEMINI_API_KEY"] == "gem-key-123456"
    assert env["GOOGLE_CLOUD_PROJECT"] == "my-project"
    assert env["PASSED_VAR"] == "passed-value"
    assert "HOME" in env  # the CLI's credential store lives under $HOME/.gemini
    assert not {"AGNT_API_KEY", "AGNT_API_URL", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert settings.secret_values() == ["gem-key-123456"]


def test_a_literal_gemini_key_in_env_is_masked_too() -> None:
    settings = GeminiSettings(env={"GEMINI_API_KEY": "literal-gem-key"})
    assert "literal-gem-key" in settings.secret_values({})


@pytest.mark.usefixtures("executor_environ")
def test_python_handler_secrets_are_masked_and_the_agent_masks_the_executor_key(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[[agents]]\nid = "py"\nname = "Py"\n'
        'handler = { type = "python", callable = "json:dumps", secrets = ["AGENT_TOKEN"] }\n'
    )
    served = load_manifest(manifest).agents["py"]
    assert isinstance(served.spec.handler, PythonSettings)
    masker = served.masker(EXECUTOR_KEY)
    assert masker.mask_text(f"a tok-9f8e7d6c5b4a b {EXECUTOR_KEY}") == "a *** b ***"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
def test_the_executor_process_makes_itself_non_dumpable() -> None:
    import subprocess

    code = (
        "import ctypes; from agnt_executor.cli import keep_memory_private; "
        "assert keep_memory_private(); "
        "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"  # PR_GET_DUMPABLE
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"
