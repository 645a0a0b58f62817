"""Input files on the handler side: ``{inputs}`` in argv, ``$AGNT_INPUT_DIR`` in the
environment, with a real child process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from agnt_executor.handlers import CommandHandler, CommandSettings
from agnt_executor.handlers.base import JobContext

READS_INPUTS = (
    "import os, sys, pathlib; d = pathlib.Path(sys.argv[1]); "
    "assert str(d) == os.environ['AGNT_INPUT_DIR']; "
    "out = pathlib.Path(os.environ['AGNT_OUTPUT_DIR']); "
    "(out / 'seen.txt').write_bytes(b''.join(p.read_bytes() for p in sorted(d.iterdir())))"
)


async def test_inputs_placeholder_and_env_name_the_input_dir(
    tmp_path: Path, make_context: Callable[..., JobContext]
) -> None:
    ctx = make_context()
    ctx.input_dir = ctx.work_dir / "input"
    ctx.input_dir.mkdir()
    (ctx.input_dir / "a.txt").write_bytes(b"first ")
    (ctx.input_dir / "b.txt").write_bytes(b"second")
    handler = CommandHandler(
        CommandSettings(argv=[sys.executable, "-c", READS_INPUTS, "{inputs}"]), tmp_path
    )
    assert handler.render_argv(ctx)[-1] == str(ctx.input_dir)
    assert handler.job_environment(ctx)["AGNT_INPUT_DIR"] == str(ctx.input_dir)
    await handler.run(ctx)
    assert (ctx.output_dir / "seen.txt").read_bytes() == b"first second"


def test_unknown_placeholders_still_refused_and_inputs_is_known() -> None:
    CommandSettings(argv=["tool", "--in={inputs}"])
    try:
        CommandSettings(argv=["tool", "{input}"])
    except ValueError as exc:
        assert "{inputs}" in str(exc)
    else:
        raise AssertionError("an unknown placeholder was accepted")
