"""Issue 16 end to end, as users run it: real ``agnt-server``, ``agnt-executor`` and ``agnt``.

The executor publishes its accept rules, so ``agnt order`` is refused at once with the
executor's own reason; an agent nobody serves is reported offline (``agnt info``, and
``agnt order --wait`` says so on stderr at once) until an executor claims; ``agnt-executor
unpublish`` hides the agent and cancels its pending jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agnt_client import Client
from agnt_models import JobStatus

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

SCRIPT = """\
import os, pathlib, sys
out = pathlib.Path(os.environ["AGNT_OUTPUT_DIR"])
(out / "echo.txt").write_text(sys.argv[1])
"""


def _manifest(script: Path) -> str:
    return f"""
[[agents]]
id = "rules-echo"
name = "Rules echo"
tags = ["e2e"]
input_schema = {{ type = "object", properties = {{ lang = {{ type = "string" }} }} }}
handler = {{ type = "command", argv = ["{sys.executable}", "{script}", "{{prompt}}"] }}

[agents.accept]
max_prompt_bytes = 50

[[agents.accept.params]]
name = "lang"
one_of = ["en", "fr"]
reason = "rules-echo speaks only en or fr"
"""


def _run(
    command: str, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    return subprocess.run(
        [str(BIN / command), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.timeout(300)  # several processes start in turn; a busy machine is slow
@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.s3])]
)
def test_rules_refuse_at_order_time_offline_is_said_and_unpublish_cancels(
    database: str,
    request: pytest.FixtureRequest,
    live_api_factory: Callable[..., Any],
    start_executor: Callable[..., Any],
    write_manifest: Callable[[str], Path],
    write_script: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    if database == "postgres":
        bucket = request.getfixturevalue("s3_bucket")
        api = live_api_factory(
            database_url=request.getfixturevalue("make_postgres_database")(),
            storage_url=f"s3://{bucket}/results",
            env={"AGNT_S3_ENDPOINT_URL": request.getfixturevalue("s3_endpoint")},
        )
    else:
        api = live_api_factory()
    owner_env = {"AGNT_API_URL": api.url, "AGNT_API_KEY": api.executor_key}
    buyer_env = {
        "AGNT_API_URL": api.url,
        "AGNT_API_KEY": api.buyer_key,
        "AGNT_CONFIG_DIR": str(tmp_path / "config"),
    }
    manifest = write_manifest(_manifest(write_script("echo-arg", SCRIPT)))
    published = _run("agnt-executor", "publish", str(manifest), env=owner_env)
    assert published.returncode == 0, published.stderr

    # Refused at order time with the executor's own reason; nothing is queued.
    refused = _run("agnt", "order", "rules-echo", "-p", "hi", "--param", "lang=de", env=buyer_env)
    assert refused.returncode == 2, refused.stderr
    error = json.loads(refused.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "order_refused"
    assert error["message"].endswith("rules-echo speaks only en or fr")
    too_long = _run("agnt", "order", "rules-echo", "-p", "x" * 51, env=buyer_env)
    assert "this agent accepts at most 50" in too_long.stderr
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        assert buyer.list_jobs().items == []

    # Nobody serves it yet: offline, and `agnt order --wait` says so at once.
    info = _run("agnt", "info", "rules-echo", env=buyer_env)
    agent = json.loads(info.stdout)
    assert (agent["online"], agent["published"]) == (False, True)
    assert agent["accept_rules"]["params"][0]["reason"] == "rules-echo speaks only en or fr"
    base = {k: v for k, v in os.environ.items() if not k.startswith("AGNT_")}
    started = time.monotonic()
    order = subprocess.Popen(
        [str(BIN / "agnt"), "order", "rules-echo", "-p", "bonjour", "--param", "lang=fr"]
        + ["--wait", "--timeout", "120"],
        env={**base, **buyer_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert order.stderr is not None
        created = json.loads(order.stderr.readline())
        warning = json.loads(order.stderr.readline())["warning"]
        assert time.monotonic() - started < 20
        assert warning["code"] == "agent_offline"
        assert "rules-echo is offline" in warning["message"]
        assert order.poll() is None

        # An executor comes: it claims the job, the agent is online, the wait ends.
        executor = start_executor("run", str(manifest), env=owner_env)
        stdout, stderr = order.communicate(timeout=90)
    finally:
        if order.poll() is None:
            order.kill()
    assert order.returncode == 0, stderr
    job = json.loads(stdout)
    assert (job["id"], job["status"]) == (created["created"], "completed")
    agent = json.loads(_run("agnt", "info", "rules-echo", env=buyer_env).stdout)
    assert agent["online"] is True
    online = json.loads(_run("agnt", "search", "--online", env=buyer_env).stdout)
    assert [a["id"] for a in online["items"]] == ["rules-echo"]

    # Unpublish: the pending job is canceled (the executor stopped first, so it stays
    # pending), the agent leaves search, orders are refused, a re-publish brings it back.
    executor.stop()
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        pending = buyer.create_job("rules-echo", "later", params={"lang": "en"})
        assert pending.agent_online is True  # seen within two lease periods
        unpublished = _run("agnt-executor", "unpublish", "rules-echo", env=owner_env)
        assert unpublished.returncode == 0, unpublished.stderr
        assert json.loads(unpublished.stdout)[0]["published"] is False
        job_now = buyer.get_job(pending.id)
        assert (job_now.status, job_now.decision_reason) == (
            JobStatus.CANCELED,
            "agent_unpublished",
        )
        assert buyer.search_agents("rules").items == []
    refused = _run("agnt", "order", "rules-echo", "-p", "hi", env=buyer_env)
    assert json.loads(refused.stderr.strip().splitlines()[-1])["error"]["code"] == (
        "agent_unpublished"
    )
    assert _run("agnt-executor", "publish", str(manifest), env=owner_env).returncode == 0
    with Client(base_url=api.url, api_key=api.buyer_key) as buyer:
        assert [a.id for a in buyer.search_agents("rules").items] == ["rules-echo"]
