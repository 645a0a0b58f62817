"""Live handler logs: what the command handler forwards, and how the forwarder sends it.

The forwarder talks to a fake network (``httpx.MockTransport``): the tests see each batch
exactly as the API would receive it, and can make the API fail.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agnt_client import AsyncClient
from agnt_executor.handlers import CommandHandler, CommandSettings
from agnt_executor.handlers.base import JobContext
from agnt_executor.log_forwarder import LogForwarder
from agnt_executor.masking import SecretMasker
from agnt_models import MAX_LOG_LINE_CHARS

MakeContext = Callable[..., JobContext]
WriteScript = Callable[[str, str], Path]
SECRET = "hunter2-secret-value"


def collect(ctx: JobContext) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    ctx.forward_logs_to(lambda text, stream: lines.append((stream, text)))
    return lines


async def test_stderr_lines_are_forwarded_and_progress_lines_are_not(
    tmp_path: Path, make_context: MakeContext, write_script: WriteScript
) -> None:
    script = write_script(
        "talk",
        "import sys\n"
        "sys.stderr.write('one\\r\\nAGNT_PROGRESS 50\\ntwo\\nno newline at the end')\n"
        "print('to stdout')\n",
    )
    ctx = make_context()
    lines = collect(ctx)
    await CommandHandler(CommandSettings(argv=[str(script)]), tmp_path).run(ctx)
    assert lines == [("stderr", "one"), ("stderr", "two"), ("stderr", "no newline at the end")]
    assert ctx.progress == 50
    assert (ctx.output_dir / "stdout.txt").read_text() == "to stdout\n"


async def test_stdout_is_forwarded_when_the_manifest_says_so(
    tmp_path: Path, make_context: MakeContext, write_script: WriteScript
) -> None:
    script = write_script("out", "print('AGNT_PROGRESS 10')\nprint('result line')\n")
    ctx = make_context()
    lines = collect(ctx)
    settings = CommandSettings(argv=[str(script)], stream_stdout=True)
    await CommandHandler(settings, tmp_path).run(ctx)
    # On stdout a progress-looking line is output, not progress.
    assert lines == [("stdout", "AGNT_PROGRESS 10"), ("stdout", "result line")]
    assert ctx.progress == 0
    assert (ctx.output_dir / "stdout.txt").read_text() == "AGNT_PROGRESS 10\nresult line\n"


def recording_client(
    batches: list[list[dict[str, str]]], fail: Exception | None = None
) -> AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if fail is not None:
            raise fail
        batches.append(json.loads(request.content)["lines"])
        accepted = len(batches[-1])
        return httpx.Response(202, json={"accepted": accepted, "dropped": 0})

    return AsyncClient(
        base_url="http://api.test",
        api_key="agnt_test_key",
        transport=httpx.MockTransport(handler),
    )


async def test_lines_are_masked_before_they_are_sent_and_batched() -> None:
    batches: list[list[dict[str, str]]] = []
    async with recording_client(batches) as client:
        logs = LogForwarder(
            client, str(uuid.uuid4()), SecretMasker([SECRET]), flush_seconds=60, flush_lines=2
        )
        logs.start()
        logs.add(f"token {SECRET}")
        logs.add("x" * (MAX_LOG_LINE_CHARS + 10), "stdout")
        await asyncio.sleep(0.2)  # two lines reach flush_lines: sent without the 60 s wait
        assert len(batches) == 1
        logs.add("last")
        await logs.close()
    assert batches == [
        [
            {"stream": "stderr", "text": "token ***"},
            {"stream": "stdout", "text": "x" * MAX_LOG_LINE_CHARS},
        ],
        [{"stream": "stderr", "text": "last"}],
    ]
    assert SECRET not in json.dumps(batches)
    assert logs.sent_lines == 3


async def test_lines_past_the_budget_are_dropped_with_one_note() -> None:
    batches: list[list[dict[str, str]]] = []
    async with recording_client(batches) as client:
        logs = LogForwarder(client, str(uuid.uuid4()), SecretMasker([]), max_bytes=10)
        logs.start()
        for text in ["12345", "67890", "over", "more"]:
            logs.add(text)
        await logs.close()
    texts = [line["text"] for batch in batches for line in batch]
    assert texts[:2] == ["12345", "67890"]
    assert len(texts) == 3 and "log limit of 10 bytes" in texts[2]
    assert logs.dropped_lines == 2


async def test_an_api_that_refuses_logs_never_fails_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batches: list[list[dict[str, str]]] = []
    async with recording_client(batches, fail=httpx.ConnectError("refused")) as client:
        logs = LogForwarder(client.with_options(max_retries=0), str(uuid.uuid4()), SecretMasker([]))
        logs.start()
        logs.add("lost")
        await logs.close()
    assert logs.dropped_lines == 1 and logs.sent_lines == 0
    assert "logs_not_sent" in caplog.text
