"""The offline demo agents, run through their manifest's handlers."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable

import pytest

from agnt_executor.demo import manifest_path
from agnt_executor.demo.agents import word_report
from agnt_executor.handlers import JobCanceled
from agnt_executor.handlers.base import JobContext
from agnt_executor.manifest import load_manifest

MakeContext = Callable[..., JobContext]
AGENTS = load_manifest(manifest_path()).agents


async def test_echo_uppercases_by_default(make_context: MakeContext) -> None:
    ctx = make_context(prompt="hi there")
    await AGENTS["demo-echo"].handler.run(ctx)
    assert (ctx.output_dir / "echo.txt").read_text() == "HI THERE\n"


async def test_echo_keeps_case_when_asked(make_context: MakeContext) -> None:
    ctx = make_context(prompt="Hi", params={"uppercase": False})
    await AGENTS["demo-echo"].handler.run(ctx)
    assert (ctx.output_dir / "echo.txt").read_text() == "Hi\n"


async def test_wordcount_writes_json_and_markdown(make_context: MakeContext) -> None:
    ctx = make_context(prompt="the cat and the hat\nthe end", params={"top": 2})
    await AGENTS["demo-wordcount"].handler.run(ctx)
    report = json.loads((ctx.output_dir / "report.json").read_text())
    assert report["words"] == 7
    assert report["lines"] == 2
    assert report["top_words"][0] == {"word": "the", "count": 3}
    assert len(report["top_words"]) == 2
    markdown = (ctx.output_dir / "report.md").read_text()
    assert markdown.startswith("# Word count report")
    assert "| the | 3 |" in markdown


def test_word_report_of_empty_text() -> None:
    assert word_report("", 5) == {
        "characters": 0,
        "lines": 0,
        "words": 0,
        "unique_words": 0,
        "top_words": [],
    }


async def test_slow_reports_progress_and_writes_a_seeded_payload(make_context: MakeContext) -> None:
    ctx = make_context(prompt="go", params={"seconds": 0.2, "size_kb": 64})
    seen: list[int] = []

    async def watch() -> None:
        while True:
            await ctx.wait_progress_change()
            seen.append(ctx.progress)

    watcher = asyncio.create_task(watch())
    await AGENTS["demo-slow"].handler.run(ctx)
    await asyncio.sleep(0.01)
    watcher.cancel()
    payload = (ctx.output_dir / "payload.bin").read_bytes()
    assert payload == random.Random(str(ctx.job.id)).randbytes(64 * 1024)
    assert seen[-1] == 100
    assert len(seen) > 3
    assert "64 KiB" in (ctx.output_dir / "summary.txt").read_text()


async def test_slow_stops_on_cancel(make_context: MakeContext) -> None:
    ctx = make_context(params={"seconds": 30})
    task = asyncio.create_task(AGENTS["demo-slow"].handler.run(ctx))
    await asyncio.sleep(0.1)
    ctx.request_cancel()
    with pytest.raises(JobCanceled):
        await asyncio.wait_for(task, 5)


def test_slow_policy_rejects_long_jobs_with_a_reason(make_job: Callable[..., object]) -> None:
    job = make_job(agent_id="demo-slow", params={"seconds": 61})
    assert AGENTS["demo-slow"].rejection_reason(job) == "demo-slow works at most 60 seconds per job"  # type: ignore[arg-type]
