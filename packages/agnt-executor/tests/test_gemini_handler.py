"""The Gemini handler against a fake ``gemini`` on PATH (the real CLI is outside agnt)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from agnt_executor.handlers import GeminiHandler, GeminiSettings, HandlerError
from agnt_executor.handlers.base import JobContext

MakeContext = Callable[..., JobContext]
FakeBin = Callable[[str, str], Path]

FAKE_GEMINI = """
import json, sys
args = sys.argv[1:]
values = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
model, prompt = values["model"], values["prompt"]
stdin = sys.stdin.read()
print(f"answer from {model} to: {prompt}")
sys.stderr.write(json.dumps({"argv": args, "stdin": stdin}))
"""


async def test_answer_is_written_as_a_result_file(
    tmp_path: Path, make_context: MakeContext, fake_bin_on_path: FakeBin
) -> None:
    fake_bin_on_path("gemini", FAKE_GEMINI)
    handler = GeminiHandler(GeminiSettings(model="gemini-2.5-flash"), tmp_path)
    assert handler.unavailable_reason() is None
    ctx = make_context(prompt="why is the sky blue?")
    await handler.run(ctx)
    answer = (ctx.output_dir / "answer.md").read_text()
    assert answer == "answer from gemini-2.5-flash to: why is the sky blue?\n"
    call = json.loads((ctx.output_dir / "gemini-stderr.txt").read_text())
    assert call["stdin"] == ""  # the prompt goes once, as --prompt


async def test_model_param_overrides_the_default_and_extra_args_pass(
    tmp_path: Path, make_context: MakeContext, fake_bin_on_path: FakeBin
) -> None:
    fake_bin_on_path("gemini", FAKE_GEMINI)
    handler = GeminiHandler(GeminiSettings(extra_args=["--yolo"]), tmp_path)
    ctx = make_context(prompt="hi", params={"model": "gemini-2.5-pro"})
    await handler.run(ctx)
    assert (ctx.output_dir / "answer.md").read_text().startswith("answer from gemini-2.5-pro")
    call = json.loads((ctx.output_dir / "gemini-stderr.txt").read_text())
    assert call["argv"] == ["--model=gemini-2.5-pro", "--yolo", "--prompt=hi"]


async def test_a_prompt_that_looks_like_an_option_stays_the_prompt(
    tmp_path: Path, make_context: MakeContext, fake_bin_on_path: FakeBin
) -> None:
    fake_bin_on_path("gemini", FAKE_GEMINI)
    ctx = make_context(prompt="--yolo", params={"model": "--sandbox"})
    await GeminiHandler(GeminiSettings(), tmp_path).run(ctx)
    call = json.loads((ctx.output_dir / "gemini-stderr.txt").read_text())
    assert call["argv"] == ["--model=--sandbox", "--prompt=--yolo"]


async def test_missing_binary_is_a_clear_reason_not_a_crash(
    tmp_path: Path, make_context: MakeContext
) -> None:
    handler = GeminiHandler(GeminiSettings(binary="agnt-no-gemini-here"), tmp_path)
    reason = handler.unavailable_reason()
    assert reason is not None
    assert reason.startswith("the Gemini CLI ('agnt-no-gemini-here') is not installed")
    with pytest.raises(HandlerError, match="is not installed"):
        await handler.run(make_context())


async def test_cli_error_fails_with_its_message(
    tmp_path: Path, make_context: MakeContext, fake_bin_on_path: FakeBin
) -> None:
    fake_bin_on_path("gemini", "import sys\nsys.stderr.write('API key not valid')\nsys.exit(1)\n")
    with pytest.raises(HandlerError, match="command exited with status 1: API key not valid"):
        await GeminiHandler(GeminiSettings(), tmp_path).run(make_context())


async def test_empty_answer_fails(
    tmp_path: Path, make_context: MakeContext, fake_bin_on_path: FakeBin
) -> None:
    fake_bin_on_path("gemini", "pass\n")
    with pytest.raises(HandlerError, match="returned an empty answer"):
        await GeminiHandler(GeminiSettings(), tmp_path).run(make_context())
