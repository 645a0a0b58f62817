"""End to end: buyer cancel, SIGTERM drain and shutdown, N jobs at once, the Gemini handler."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_executor.demo import manifest_path
from agnt_models import JobStatus

pytestmark = pytest.mark.slow

WriteScript = Callable[[str, str], Path]
WriteManifest = Callable[[str], Path]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_buyer_cancel_terminates_the_handler_process(
    live_api_factory: Callable[..., Any],
    start_executor: Callable[..., Any],
    write_script: WriteScript,
    write_manifest: WriteManifest,
    tmp_path: Path,
    until: Callable[..., None],
) -> None:
    api = live_api_factory(env={"AGNT_LEASE_SECONDS": "3"})
    pid_file = tmp_path / "handler.pid"
    script = write_script(
        "long-task",
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(120)\n",
    )
    manifest = write_manifest(
        f'[[agents]]\nid = "long-task"\nname = "Long task"\n'
        f'handler = {{ type = "command", argv = ["{script}"], kill_grace_seconds = 2 }}\n'
    )
    executor = start_executor(
        "run", str(manifest), env={"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    )
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        job = buyer.create_job("long-task", "go")
        until(lambda: pid_file.exists() and pid_file.read_text() != "", what="handler start")
        pid = int(pid_file.read_text())
        assert alive(pid)
        assert buyer.cancel_job(job.id).status is JobStatus.CANCELED
        executor.wait_for_event("job_gone", job_id=str(job.id), timeout=30)
        until(lambda: not alive(pid), timeout=10, what="handler process to end")
        assert buyer.get_job(job.id).status is JobStatus.CANCELED


def test_sigterm_drains_running_jobs_then_gives_the_late_ones_back(
    start_executor: Callable[..., Any], buyer: Client
) -> None:
    patient = start_executor("run", str(manifest_path()), "--shutdown-grace", "30")
    quick = buyer.create_job("demo-slow", "finish me", params={"seconds": 3, "size_kb": 1})
    patient.wait_for_event("job_running", job_id=str(quick.id))
    patient.signal(signal.SIGTERM)
    patient.wait_for_event("shutdown_requested")
    waiting = buyer.create_job("demo-echo", "nobody takes me")
    assert patient.wait(timeout=60) == 0
    assert buyer.get_job(quick.id).status is JobStatus.COMPLETED
    assert buyer.get_job(waiting.id).status is JobStatus.PENDING

    hasty = start_executor("run", str(manifest_path()), "--shutdown-grace", "0.5")
    assert buyer.wait_for_job(waiting.id, timeout=30).status is JobStatus.COMPLETED
    late = buyer.create_job("demo-slow", "too slow", params={"seconds": 60})
    hasty.wait_for_event("job_running", job_id=str(late.id))
    hasty.signal(signal.SIGTERM)
    assert hasty.wait(timeout=60) == 0
    released = buyer.get_job(late.id)
    assert (released.status, released.attempt) == (JobStatus.PENDING, 2)
    assert released.decision_reason == "executor_shutdown"


def test_concurrency_runs_n_jobs_at_once(
    start_executor: Callable[..., Any],
    buyer: Client,
    write_script: WriteScript,
    write_manifest: WriteManifest,
    tmp_path: Path,
) -> None:
    times = tmp_path / "times"
    times.mkdir()
    script = write_script(
        "timed",
        "import os, time\n"
        f"log = os.path.join({str(times)!r}, os.environ['AGNT_JOB_ID'])\n"
        "start = time.time()\ntime.sleep(3)\n"
        "open(log, 'w').write(f'{start} {time.time()}')\n"
        "open(os.path.join(os.environ['AGNT_OUTPUT_DIR'], 'done.txt'), 'w').write('ok')\n",
    )
    manifest = write_manifest(
        f'[[agents]]\nid = "timed"\nname = "Timed"\n'
        f'handler = {{ type = "command", argv = ["{script}"] }}\n'
    )
    start_executor("run", str(manifest), "--concurrency", "3")
    jobs = [buyer.create_job("timed", f"job {i}") for i in range(4)]
    for job in jobs:
        assert buyer.wait_for_job(job.id, timeout=90).status is JobStatus.COMPLETED
    spans = [tuple(map(float, (times / str(job.id)).read_text().split())) for job in jobs]
    # Sweep the start/end points: the most handlers alive at one moment.
    points = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    alive_now = peak = 0
    for _, step in points:
        alive_now += step
        peak = max(peak, alive_now)
    assert peak == 3, f"expected exactly 3 jobs at once, got {peak}: {spans}"


def test_gemini_handler_answers_and_a_missing_cli_is_not_served(
    start_executor: Callable[..., Any],
    buyer: Client,
    write_script: WriteScript,
    write_manifest: WriteManifest,
    tmp_path: Path,
) -> None:
    write_script(
        "gemini",
        "import sys\nvalues = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
        "print(f\"[{values['model']}] \" + values['prompt'][::-1])\n",
    )
    manifest = write_manifest(
        '[[agents]]\nid = "ask-gemini"\nname = "Ask Gemini"\n'
        'handler = { type = "gemini", model = "gemini-2.5-flash" }\n'
        '[[agents]]\nid = "ask-missing"\nname = "Ask a missing CLI"\n'
        'handler = { type = "gemini", binary = "agnt-gemini-not-installed" }\n'
    )
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"
    # An agent whose CLI is missing stops `run` (exit 3) unless it may be skipped.
    refused = start_executor("run", str(manifest), env={"PATH": path}, ready=False)
    assert refused.process.wait(timeout=60) == 3
    [unavailable] = refused.events("agent_unavailable")
    assert unavailable["agent_id"] == "ask-missing"
    assert "Gemini CLI ('agnt-gemini-not-installed') is not installed" in unavailable["error"]
    executor = start_executor("run", str(manifest), "--allow-unavailable", env={"PATH": path})
    [skipped] = executor.events("agent_skipped")
    assert skipped["agent_id"] == "ask-missing"
    answered = buyer.create_job("ask-gemini", "olleh", params={"model": "gemini-2.5-pro"})
    done = buyer.wait_for_job(answered.id, timeout=60)
    assert done.status is JobStatus.COMPLETED, done.decision_reason
    buyer.download_result(answered.id, tmp_path / "out")
    assert (tmp_path / "out" / "answer.md").read_text() == "[gemini-2.5-pro] hello\n"


def test_two_executors_share_the_queue_and_each_job_runs_once(
    start_executor: Callable[..., Any], buyer: Client
) -> None:
    executors = [
        start_executor("run", str(manifest_path()), "--concurrency", "2") for _ in range(2)
    ]
    jobs = [buyer.create_job("demo-echo", f"job {i}") for i in range(8)]
    for job in jobs:
        assert buyer.wait_for_job(job.id, timeout=60).status is JobStatus.COMPLETED
    accepted = [e["job_id"] for ex in executors for e in ex.events("job_accepted")]
    assert sorted(accepted) == sorted(str(job.id) for job in jobs)
    # A job lost to the other executor (409 on accept) costs that job only, not the loop.
    assert all(ex.process.poll() is None for ex in executors)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_buyer_cancel_sigterms_a_silent_handler_within_two_seconds(
    database: str,
    request: pytest.FixtureRequest,
    live_api_factory: Callable[..., Any],
    start_executor: Callable[..., Any],
    write_script: WriteScript,
    write_manifest: WriteManifest,
    tmp_path: Path,
    until: Callable[..., None],
) -> None:
    """The handler reports nothing and the lease is the default 60 s (heartbeat every 20 s):
    only the executor's watch of its held jobs can bring the cancel this fast."""
    pid_file = tmp_path / "silent.pid"
    term_file = tmp_path / "silent.term"
    script = write_script(
        "silent",
        "import os, signal, sys, time\n"
        "def stop(*_):\n"
        f"    open({str(term_file)!r}, 'w').write(repr(time.time()))\n"
        "    sys.exit(143)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n",
    )
    manifest = write_manifest(
        '[[agents]]\nid = "silent"\nname = "Silent"\n'
        f'handler = {{ type = "command", argv = ["{script}"] }}\n'
    )
    database_url = None
    if database == "postgres":
        database_url = request.getfixturevalue("make_postgres_database")()
    api = live_api_factory(database_url=database_url)
    env = {"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    executor = start_executor("run", str(manifest), env=env)
    with Client(api.url, api.buyer_key) as buyer:
        job = buyer.create_job("silent", "say nothing")
        until(lambda: pid_file.exists() and pid_file.read_text() != "", what="handler start")
        executor.wait_for_event("job_running", job_id=str(job.id))
        time.sleep(0.5)  # the watch's long-poll is in flight, not starting
        canceled_at = time.time()
        assert buyer.cancel_job(job.id).status is JobStatus.CANCELED
    until(lambda: term_file.exists() and term_file.read_text() != "", timeout=10, what="SIGTERM")
    assert float(term_file.read_text()) - canceled_at < 2.0
    gone = executor.wait_for_event("job_gone", job_id=str(job.id))
    assert gone["reason"] == "job is canceled"
    until(lambda: not alive(int(pid_file.read_text())), timeout=10, what="handler to end")
