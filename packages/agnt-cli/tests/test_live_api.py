"""Every command against a real ``agnt-server serve`` on loopback, through the console script.

The executor side (claiming, reporting, uploading) is played by ``agnt_client`` with the
executor key, in a thread, while ``agnt ... --wait`` runs as a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from agnt_models import Agent, AgentSearchPage, AgentStats, Job, JobPage, JobStatus

OUTPUT = b"hello hello\n"


def order(buyer, agent_id: str, *args: str) -> dict[str, Any]:
    job: dict[str, Any] = buyer("order", agent_id, "--prompt", "hello", *args).ok()
    Job.model_validate(job)
    return job


def complete(
    executor: Any, job_id: str, tmp_path: Path, steps: tuple[int, ...] = (50,), pause: float = 0.0
) -> None:
    """Run a claimed job (reporting each progress step), and complete it with one file."""
    for progress in steps:
        executor.report_status(job_id, JobStatus.RUNNING, progress=progress)
        time.sleep(pause)
    output = tmp_path / f"out-{job_id}.txt"
    output.write_bytes(OUTPUT)
    executor.complete_job(job_id, [("echo.txt", output)])


@contextmanager
def serving_next_job(executor: Any, agent_id: str, handle: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, a thread claims the agent's next job and ``handle``s it."""
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            jobs = executor.claim_jobs(agent_ids=[agent_id], wait=30)
            assert jobs, "no job to serve"
            handle(str(jobs[0].id))
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    thread.join(timeout=60)
    assert not failures, failures


def test_search_info_and_stats_print_the_model_shapes(buyer, echo_agent: str) -> None:
    page = AgentSearchPage.model_validate(buyer("search", "echo").ok())
    assert echo_agent in [a.id for a in page.items]
    assert [
        a.id
        for a in AgentSearchPage.model_validate(buyer("search", "--tag", "cli-test").ok()).items
    ] == [echo_agent]
    assert buyer("search", "--tag", "no-such-tag").ok() == {
        "items": [],
        "next_cursor": None,
        "facets": None,
    }
    faceted = AgentSearchPage.model_validate(
        buyer("search", "--tag", "cli-test", "--facets", "--sort", "newest").ok()
    )
    assert faceted.facets is not None
    assert {(f.tag, f.count) for f in faceted.facets} == {("cli-test", 1), ("text", 1)}
    priced = buyer("search", "--tag", "cli-test", "--pricing", "per_second", "--sort", "price")
    assert priced.ok()["items"] == []
    assert buyer("search", "--sort", "cheapest").exit_code == 2
    everything = AgentSearchPage.model_validate(buyer("search", "--limit", "1", "--all").ok())
    assert echo_agent in [a.id for a in everything.items]
    assert everything.next_cursor is None
    agent = Agent.model_validate(buyer("info", echo_agent).ok())
    assert agent.input_schema["properties"]["count"] == {"type": "integer", "minimum": 1}
    stats = AgentStats.model_validate(buyer("stats", echo_agent).ok())
    assert stats.total == 0


def test_order_sends_prompt_and_params_then_status_cancel_and_idempotency(
    buyer, echo_agent: str, tmp_path: Path
) -> None:
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("from a file\n")
    params_file = tmp_path / "params.json"
    params_file.write_text('{"count": 1, "style": {"tone": "dry", "width": 40}}')
    job = buyer(
        "order",
        echo_agent,
        "--prompt-file",
        str(prompt_file),
        "--params-file",
        str(params_file),
        "--param",
        "count=3",
        "--param",
        "style.tone=warm",
    ).ok()
    assert job["prompt"] == "from a file\n"
    assert job["params"] == {"count": 3, "style": {"tone": "warm", "width": 40}}
    assert job["status"] == "pending"
    from_stdin = buyer("order", echo_agent, "--prompt-file", "-", input="piped prompt").ok()
    assert from_stdin["prompt"] == "piped prompt"
    assert buyer("status", job["id"]).ok()["id"] == job["id"]
    canceled = buyer("cancel", job["id"]).ok()
    assert canceled["status"] == "canceled"
    again = buyer("cancel", job["id"])
    assert again.exit_code == 5
    error = again.error()
    assert (error["code"], error["status"]) == ("invalid_transition", 409)
    assert error["request_id"]
    first = order(buyer, echo_agent, "--idempotency-key", "cli-test-1")
    second = order(buyer, echo_agent, "--idempotency-key", "cli-test-1")
    assert first["id"] == second["id"]


def test_jobs_lists_pages_and_follows_cursors(buyer, echo_agent: str) -> None:
    ids = [order(buyer, echo_agent)["id"] for _ in range(3)]
    first = JobPage.model_validate(buyer("jobs", "--limit", "2").ok())
    assert [str(j.id) for j in first.items] == ids[::-1][:2]
    assert first.next_cursor
    rest = buyer("jobs", "--limit", "2", "--cursor", first.next_cursor).ok()
    assert [j["id"] for j in rest["items"]] == [ids[0]]
    everything = buyer(
        "jobs", "--limit", "1", "--all", "--agent", echo_agent, "--status", "pending"
    ).ok()
    assert [j["id"] for j in everything["items"]] == ids[::-1]
    assert everything["next_cursor"] is None
    assert buyer("jobs", "--status", "completed").ok()["items"] == []


def test_order_wait_ends_when_the_executor_completes_the_job(
    buyer, executor, echo_agent: str, tmp_path: Path
) -> None:
    executor.claim_jobs(agent_ids=[echo_agent])  # seen: the agent is online, no warning
    with serving_next_job(
        executor, echo_agent, lambda job_id: complete(executor, job_id, tmp_path)
    ):
        job = buyer("order", echo_agent, "--prompt", "hello", "--param", "count=2", "--wait").ok()
    assert job["status"] == "completed"
    assert job["completed_at"] is not None
    assert buyer("stats", echo_agent).ok()["completed"] == 1


def test_result_downloads_verified_files_and_refuses_to_overwrite_others(
    buyer, executor, live_api, echo_agent: str, tmp_path: Path
) -> None:
    job = order(buyer, echo_agent)
    before = buyer("result", job["id"])
    assert before.exit_code == 5
    assert before.error()["code"] == "job_not_completed"
    assert before.error()["status"] == 409
    with serving_next_job(
        executor, echo_agent, lambda job_id: complete(executor, job_id, tmp_path)
    ):
        assert buyer("status", job["id"], "--wait", "--timeout", "60").ok()["status"] == "completed"
    workdir = tmp_path / "work"
    result = buyer("result", job["id"]).ok()
    target = workdir / job["id"] / "echo.txt"
    assert result == {
        "job_id": job["id"],
        "output_dir": str(workdir / job["id"]),
        "files": [
            {
                "name": "echo.txt",
                "path": str(target),
                "size": len(OUTPUT),
                "sha256": hashlib.sha256(OUTPUT).hexdigest(),
            }
        ],
    }
    assert target.read_bytes() == OUTPUT
    assert buyer("result", job["id"]).ok() == result
    target.write_bytes(b"edited by hand\n")
    conflict = buyer("result", job["id"])
    assert conflict.exit_code == 5
    assert conflict.error()["code"] == "file_conflict"
    assert target.read_bytes() == b"edited by hand\n"
    assert buyer("result", job["id"], "--overwrite").ok() == result
    assert target.read_bytes() == OUTPUT
    elsewhere = buyer("result", job["id"], "--output-dir", str(tmp_path / "out")).ok()
    assert elsewhere["files"][0]["path"] == str(tmp_path / "out" / "echo.txt")
    # Corrupt the stored object behind the API's back: the download must notice.
    [stored] = [p for p in live_api.data_dir.rglob("*") if p.is_file() and p.read_bytes() == OUTPUT]
    stored.write_bytes(OUTPUT.upper())
    corrupted = buyer("result", job["id"], "--output-dir", str(tmp_path / "corrupted"))
    assert corrupted.exit_code == 1
    assert corrupted.error()["code"] == "checksum_mismatch"
    assert not (tmp_path / "corrupted" / "echo.txt").exists()


def test_result_wait_downloads_once_the_job_completes(
    buyer, executor, echo_agent: str, tmp_path: Path
) -> None:
    job = order(buyer, echo_agent)

    def slowly_complete(job_id: str) -> None:
        complete(executor, job_id, tmp_path, steps=(10, 40, 70), pause=0.5)

    with serving_next_job(executor, echo_agent, slowly_complete):
        # stderr is a terminal here: the progress bar goes there, stdout stays one JSON document.
        run = buyer("result", job["id"], "--wait", "-o", str(tmp_path / "dl"), terminal_stderr=True)
    assert run.exit_code == 0, run
    assert "\x1b" not in run.stdout
    result = json.loads(run.stdout)
    assert (tmp_path / "dl" / "echo.txt").read_bytes() == OUTPUT
    assert result["files"][0]["size"] == len(OUTPUT)
    assert f"job {job['id'][:8]}" in run.terminal


def test_wait_exits_8_when_rejected_and_7_on_timeout_printing_the_job(
    buyer, executor, echo_agent: str
) -> None:
    def reject(job_id: str) -> None:
        executor.report_status(job_id, JobStatus.REJECTED, reason="prompt too short")

    with serving_next_job(executor, echo_agent, reject):
        run = buyer("order", echo_agent, "--prompt", "hi", "--wait")
    assert run.exit_code == 8
    assert run.json()["status"] == "rejected"
    error = run.error()
    assert error["code"] == "job_rejected"
    assert "prompt too short" in error["message"]
    run = buyer("order", echo_agent, "--prompt", "hi", "--wait", "--timeout", "1")
    assert run.exit_code == 7
    pending = run.json()
    assert pending["status"] == "pending"
    assert run.error()["code"] == "wait_timeout"


def test_ctrl_c_during_wait_exits_130_with_a_json_error(
    buyer, live_api, echo_agent: str, agnt_executable: Path, config_dir: Path
) -> None:
    job = order(buyer, echo_agent)
    env = {
        **os.environ,
        "AGNT_API_URL": live_api.url,
        "AGNT_API_KEY": live_api.buyer_key,
        "AGNT_CONFIG_DIR": str(config_dir),
    }
    process = subprocess.Popen(
        [str(agnt_executable), "status", job["id"], "--wait"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(4)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stdout == ""
    assert json.loads(stderr)["error"]["code"] == "interrupted"


def test_api_error_classes_and_server_down_have_their_exit_codes(
    buyer, live_api, echo_agent: str, tmp_path: Path
) -> None:
    bad_key = buyer("jobs", env={"AGNT_API_KEY": "agnt_not_a_real_key_0000000000"})
    assert (bad_key.exit_code, bad_key.error()["status"]) == (4, 401)
    unknown_job = buyer("status", str(uuid.uuid4()))
    assert (unknown_job.exit_code, unknown_job.error()["code"]) == (3, "job_not_found")
    unknown_agent = buyer("info", "no-such-agent")
    assert (unknown_agent.exit_code, unknown_agent.error()["code"]) == (3, "agent_not_found")
    invalid = buyer("order", echo_agent, "--prompt", "x", "--param", "count=zero")
    assert invalid.exit_code == 2
    error = invalid.error()
    assert (error["code"], error["status"]) == ("validation_error", 422)
    assert "count" in error["message"] + str(error.get("errors"))
    huge_prompt = tmp_path / "huge.txt"
    huge_prompt.write_text("a" * 100_001)
    too_large = buyer("order", echo_agent, "--prompt-file", str(huge_prompt))
    assert too_large.exit_code == 2
    assert too_large.error()["status"] in (413, 422)
    as_executor = buyer("jobs", env={"AGNT_API_KEY": live_api.executor_key})
    assert as_executor.exit_code == 4
    live_api.stop()
    down = buyer("info", echo_agent)
    assert down.exit_code == 6
    assert down.error()["code"] == "connection_error"


def test_flag_key_beats_env_key_beats_config_key(agnt, buyer, live_api, echo_agent: str) -> None:
    agnt("config", "set", "api_url", live_api.url).ok()
    agnt("config", "set", "api_key", live_api.buyer_key).ok()
    assert agnt("info", echo_agent).ok()["id"] == echo_agent
    bad_env = {"AGNT_API_KEY": "agnt_bad_env_key_000000000000"}
    assert agnt("info", echo_agent, env=bad_env).exit_code == 4
    flagged = agnt("--api-key", live_api.buyer_key, "info", echo_agent, env=bad_env)
    assert flagged.exit_code == 0
    assert flagged.json()["id"] == echo_agent
    assert [w["code"] for w in flagged.warnings()] == ["api_key_on_command_line"]


def _start_order(
    agnt_executable: Path, config_dir: Path, live_api: Any, agent_id: str, *args: str
) -> tuple[subprocess.Popen[str], str]:
    """``agnt order AGENT --wait ...`` in the background; the process and the created id."""
    env = {
        **os.environ,
        "AGNT_API_URL": live_api.url,
        "AGNT_API_KEY": live_api.buyer_key,
        "AGNT_CONFIG_DIR": str(config_dir),
    }
    process = subprocess.Popen(
        [str(agnt_executable), "order", agent_id, "--prompt", "hello", "--wait", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    # The id comes first, on its own line, before any wait can go wrong.
    created = json.loads(process.stderr.readline())
    assert set(created) == {"created"}, created
    # Nothing serves the agent yet: said at once, on the next line.
    offline = json.loads(process.stderr.readline())
    assert offline["warning"]["code"] == "agent_offline", offline
    time.sleep(1.0)  # let the first long-poll be in flight
    return process, str(created["created"])


@pytest.mark.parametrize(
    ("how", "database"),
    [
        ("sigterm", "sqlite"),
        ("sigkill", "sqlite"),
        pytest.param("sigkill", "postgres", marks=pytest.mark.postgres),
    ],
)
def test_order_wait_rides_out_an_api_restart_and_never_loses_the_id(
    how: str,
    database: str,
    request: pytest.FixtureRequest,
    live_api_factory: Callable[..., Any],
    agnt_executable: Path,
    config_dir: Path,
    tmp_path: Path,
) -> None:
    from agnt_client import Client
    from agnt_models import AgentPublish

    database_url = None
    if database == "postgres":
        database_url = request.getfixturevalue("make_postgres_database")()
    api = live_api_factory(database_url=database_url)
    with Client(api.url, api.executor_key) as executor:
        executor.publish_agent("restart-echo", AgentPublish(name="Restart echo"))
        process, job_id = _start_order(agnt_executable, config_dir, api, "restart-echo")
        if how == "sigkill":
            os.kill(api.pid, signal.SIGKILL)
        api.stop()
        time.sleep(2.0)  # connections refused meanwhile
        assert process.poll() is None, process.communicate()
        api.start()
        claimed = executor.claim_jobs(agent_ids=["restart-echo"], wait=30)
        assert [str(job.id) for job in claimed] == [job_id]
        complete(executor, job_id, tmp_path)
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    assert stderr == ""
    job = json.loads(stdout)
    assert (job["id"], job["status"]) == (job_id, "completed")


def test_order_wait_timeout_while_the_api_is_down_prints_the_job(
    live_api: Any, echo_agent: str, agnt_executable: Path, config_dir: Path
) -> None:
    process, job_id = _start_order(
        agnt_executable, config_dir, live_api, echo_agent, "--timeout", "5"
    )
    live_api.stop()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 7
    job = json.loads(stdout)
    assert (job["id"], job["status"]) == (job_id, "pending")
    assert json.loads(stderr)["error"]["code"] == "wait_timeout"
