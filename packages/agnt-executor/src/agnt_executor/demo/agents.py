"""The demo agents' handlers (``python`` handlers): text in, files out, no network."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter
from typing import TypedDict

from agnt_executor.handlers.base import JobCanceled, JobContext
from agnt_models import Job

_WORD = re.compile(r"[\w'-]+", re.UNICODE)
DEFAULT_SLOW_SECONDS = 3.0
DEFAULT_SLOW_SIZE_KB = 2048
_SLOW_STEPS = 10


def echo(job: Job, ctx: JobContext) -> None:
    """demo-echo: writes the prompt to ``echo.txt``, uppercased unless ``uppercase`` is false."""
    uppercase = job.params.get("uppercase", True) is not False
    text = job.prompt.upper() if uppercase else job.prompt
    (ctx.output_dir / "echo.txt").write_text(text + "\n", encoding="utf-8")
    ctx.report_progress(100)


class WordCount(TypedDict):
    """One row of the top-words table."""

    word: str
    count: int


class WordReport(TypedDict):
    """What demo-wordcount writes to ``report.json``."""

    characters: int
    lines: int
    words: int
    unique_words: int
    top_words: list[WordCount]


def word_report(text: str, top: int) -> WordReport:
    """Counts of a text: characters, lines, words, unique words, and the ``top`` most common."""
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(words)
    return {
        "characters": len(text),
        "lines": len(text.splitlines()),
        "words": len(words),
        "unique_words": len(counts),
        "top_words": [{"word": w, "count": c} for w, c in counts.most_common(top)],
    }


def wordcount(job: Job, ctx: JobContext) -> None:
    """demo-wordcount: ``report.json`` and ``report.md`` with the prompt's word statistics."""
    top = job.params.get("top", 10)
    report = word_report(job.prompt, top if isinstance(top, int) else 10)
    (ctx.output_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    ctx.report_progress(50)
    rows = "\n".join(f"| {entry['word']} | {entry['count']} |" for entry in report["top_words"])
    markdown = (
        "# Word count report\n\n"
        f"- characters: {report['characters']}\n"
        f"- lines: {report['lines']}\n"
        f"- words: {report['words']}\n"
        f"- unique words: {report['unique_words']}\n\n"
        "| word | count |\n|---|---|\n"
        f"{rows}\n"
    )
    (ctx.output_dir / "report.md").write_text(markdown, encoding="utf-8")
    ctx.report_progress(100)


async def slow(job: Job, ctx: JobContext) -> None:
    """demo-slow: progress in ten steps over ``seconds``, then ``payload.bin`` of ``size_kb``.

    The payload is pseudo-random bytes seeded by the job id, so a download can be checked.
    """
    seconds = float(_number(job.params.get("seconds"), DEFAULT_SLOW_SECONDS))
    size_kb = int(_number(job.params.get("size_kb"), DEFAULT_SLOW_SIZE_KB))
    for step in range(1, _SLOW_STEPS + 1):
        try:
            await asyncio.wait_for(ctx.wait_canceled(), seconds / _SLOW_STEPS)
        except TimeoutError:
            ctx.report_progress(step * 100 // _SLOW_STEPS)
            continue
        raise JobCanceled(f"job {job.id} was canceled at step {step}")
    payload = random.Random(str(job.id)).randbytes(size_kb * 1024)
    (ctx.output_dir / "payload.bin").write_bytes(payload)
    (ctx.output_dir / "summary.txt").write_text(
        f"{job.prompt}\nslept {seconds:g} s in {_SLOW_STEPS} steps; payload.bin is {size_kb} KiB\n",
        encoding="utf-8",
    )


def _number(value: object, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return default
