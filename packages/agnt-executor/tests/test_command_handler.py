"""The command handler with real child processes: argv, stdin, env, files, failures, cancel."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agnt_executor.handlers import CommandHandler, CommandSettings, HandlerError, JobCanceled
from agnt_executor.handlers.base import JobContext
from agnt_executor.handlers.command import render_argument
from agnt_models.common import MAX_REASON_CHARS

MakeContext = Callable[..., JobContext]
WriteScript = Callable[[str, str], Path]


def command(tmp_path: Path, argv: list[str], **settings: object) -> CommandHandler:
    return CommandHandler(CommandSettings(argv=argv, **settings), tmp_path)  # type: ignore[arg-type]


def test_render_fills_placeholders_and_keeps_escaped_braces() -> None:
    values = {"prompt": "hi", "params.n": "3"}
    assert render_argument("{{x}} {prompt}-{params.n}", values) == "{x} hi-3"


def test_render_names_the_missing_param() -> None:
    with pytest.raises(HandlerError, match="needs param 'lang'"):
        render_argument("--lang={params.lang}", {})


async def test_argv_is_never_a_shell(tmp_path: Path, make_context: MakeContext) -> None:
    ctx = make_context(prompt="$(touch pwned); echo hi")
    handler = command(
        tmp_path, [sys.executable, "-c", "import sys; print(sys.argv[1])", "{prompt}"]
    )
    await handler.run(ctx)
    assert (ctx.output_dir / "stdout.txt").read_text() == "$(touch pwned); echo hi\n"
    assert not (ctx.work_dir / "pwned").exists()


async def test_params_fill_argv_as_strings_or_json(
    tmp_path: Path, make_context: MakeContext
) -> None:
    ctx = make_context(params={"lang": "fr", "n": 3, "tags": ["a"]})
    handler = command(
        tmp_path,
        [
            sys.executable,
            "-c",
            "import sys, json; print(json.dumps(sys.argv[1:]))",
            "{params.lang}",
            "{params.n}",
            "{params.tags}",
            "{params.model}",
        ],
        param_defaults={"model": "small"},
    )
    await handler.run(ctx)
    assert json.loads((ctx.output_dir / "stdout.txt").read_text()) == ["fr", "3", '["a"]', "small"]


async def test_prompt_on_stdin_env_and_cwd(
    tmp_path: Path, make_context: MakeContext, write_script: WriteScript
) -> None:
    script = write_script(
        "agent",
        "import json, os, sys\n"
        "out = os.environ['AGNT_OUTPUT_DIR']\n"
        "info = {'stdin': sys.stdin.read(), 'cwd': os.getcwd(),\n"
        "        'job': os.environ['AGNT_JOB_ID'], 'params': json.loads(os.environ['AGNT_PARAMS_JSON']),\n"
        "        'extra': os.environ['EXTRA']}\n"
        "open(os.path.join(out, 'info.json'), 'w').write(json.dumps(info))\n",
    )
    ctx = make_context(prompt="x" * 200_000, params={"k": 1})  # larger than a pipe buffer
    await command(tmp_path, [str(script)], env={"EXTRA": "yes"}).run(ctx)
    info = json.loads((ctx.output_dir / "info.json").read_text())
    assert info == {
        "stdin": "x" * 200_000,
        "cwd": str(ctx.work_dir),
        "job": str(ctx.job.id),
        "params": {"k": 1},
        "extra": "yes",
    }
    assert sorted(p.name for p in ctx.output_dir.iterdir()) == [
        "info.json",
        "stderr.txt",
        "stdout.txt",
    ]


async def test_streams_can_stay_out_of_the_result(
    tmp_path: Path, make_context: MakeContext
) -> None:
    ctx = make_context()
    await command(tmp_path, ["echo", "hi"], stdout_file=None, stderr_file=None).run(ctx)
    assert list(ctx.output_dir.iterdir()) == []


async def test_nonzero_exit_fails_with_the_stderr_tail(
    tmp_path: Path, make_context: MakeContext
) -> None:
    ctx = make_context()
    code = "import sys; sys.stderr.write('noise\\n' * 500 + 'model quota exceeded'); sys.exit(3)"
    with pytest.raises(HandlerError) as caught:
        await command(tmp_path, [sys.executable, "-c", code]).run(ctx)
    message = str(caught.value)
    assert message.startswith("command exited with status 3: ")
    assert message.endswith("model quota exceeded")
    assert len(message) <= MAX_REASON_CHARS
    assert message.removeprefix("command exited with status 3: ").startswith("noise\n")


async def test_time_limit_stops_the_command(tmp_path: Path, make_context: MakeContext) -> None:
    ctx = make_context()
    handler = command(tmp_path, ["sleep", "30"], timeout_seconds=0.3, kill_grace_seconds=0.5)
    with pytest.raises(HandlerError, match=r"command timed out after 0\.3 s"):
        await asyncio.wait_for(handler.run(ctx), 10)


async def test_cancel_terminates_the_process_group(
    tmp_path: Path, make_context: MakeContext, write_script: WriteScript
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = write_script(
        "spawner",
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen(['sleep', '60'])\nopen({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n",
    )
    ctx = make_context()
    task = asyncio.create_task(command(tmp_path, [str(script)], kill_grace_seconds=1).run(ctx))
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.05)
    ctx.request_cancel()
    with pytest.raises(JobCanceled):
        await asyncio.wait_for(task, 10)
    grandchild = int(pid_file.read_text())
    await asyncio.sleep(0.2)
    assert not _alive(grandchild)


async def test_sigterm_ignoring_command_is_killed_after_the_grace(
    tmp_path: Path, make_context: MakeContext, write_script: WriteScript
) -> None:
    ready = tmp_path / "ready"
    script = write_script(
        "stubborn",
        f"import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nopen({str(ready)!r}, 'w').close()\ntime.sleep(60)\n",
    )
    ctx = make_context()
    task = asyncio.create_task(command(tmp_path, [str(script)], kill_grace_seconds=0.3).run(ctx))
    for _ in range(200):
        if ready.exists():
            break
        await asyncio.sleep(0.05)
    ctx.request_cancel()
    with pytest.raises(JobCanceled):
        await asyncio.wait_for(task, 10)


async def test_progress_lines_on_stderr_report_progress(
    tmp_path: Path, make_context: MakeContext
) -> None:
    ctx = make_context()
    code = (
        "import sys; sys.stderr.write('AGNT_PROGRESS 40\\nnot progress 90\\nAGNT_PROGRESS=75\\n')"
    )
    await command(tmp_path, [sys.executable, "-c", code]).run(ctx)
    assert ctx.progress == 75
    assert "not progress 90" in (ctx.output_dir / "stderr.txt").read_text()


async def test_missing_program_is_unavailable_and_fails_clearly(
    tmp_path: Path, make_context: MakeContext
) -> None:
    handler = command(tmp_path, ["agnt-no-such-program"])
    assert handler.unavailable_reason() == (
        "command 'agnt-no-such-program' is not installed here (not found or not executable)"
    )
    with pytest.raises(HandlerError, match="cannot start command 'agnt-no-such-program'"):
        await handler.run(make_context())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent (gone) would reap it.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
