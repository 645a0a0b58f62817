"""Screenshots of every web page, desktop (1280 px) and phone (390 px), light and dark.

    uv run python scripts/screenshots.py [--out DIR] [--chromium /usr/bin/chromium]

Starts its own ``agnt-server serve`` on a fresh SQLite database in a temporary directory,
publishes two agents and drives jobs to each state over the executor's HTTP API (so the
pictures are the same every run), then saves ``<page>-<desktop|phone>-<light|dark>.png``
into DIR (default ``test-artifacts/screenshots``, git-ignored). Needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
DESCRIPTION = (
    "Writes a **short report** in the language you pick.\n\n"
    "- reads the prompt\n- counts what matters\n- writes `report.md`\n\n"
    "See [the guide](https://example.org/guide) for tips."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["language"],
    "properties": {
        "language": {
            "type": "string",
            "enum": ["en", "fr", "de"],
            "description": "Output language.",
        },
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
        "loud": {"type": "boolean", "default": False, "title": "Shout"},
    },
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(data_dir: Path) -> Iterator[tuple[str, str, str]]:
    """``agnt-server serve`` on a fresh database: ``(url, buyer key, executor key)``."""
    env = {
        **os.environ,
        "AGNT_DATA_DIR": str(data_dir),
        "AGNT_DATABASE_URL": f"sqlite:///{data_dir / 'agnt.db'}",
        "AGNT_STORAGE_URL": (data_dir / "objects").as_uri(),
    }
    command = [sys.executable, "-m", "agnt_api.cli"]
    subprocess.run([*command, "migrate"], env=env, check=True, capture_output=True)

    def key(role: str, name: str) -> str:
        done = subprocess.run(
            [*command, "keys", "create", "--role", role, "--name", name],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return str(json.loads(done.stdout)["key"])

    buyer, executor = key("buyer", "ada"), key("executor", "acme-agents")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError((data_dir / "server.log").read_text())
            time.sleep(0.2)
        yield url, buyer, executor
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


class _Executor:
    def __init__(self, url: str, key: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})

    def publish(self, agent_id: str, **body: Any) -> None:
        self.http.put(f"/v1/executor/agents/{agent_id}", json=body).raise_for_status()

    def claim(self) -> str:
        answer = self.http.post("/v1/executor/claims", json={"max": 1, "wait": 10})
        return str(answer.raise_for_status().json()["items"][0]["id"])

    def report(self, job_id: str, status: str, **fields: Any) -> None:
        self.http.post(
            f"/v1/executor/jobs/{job_id}/status", json={"status": status, **fields}
        ).raise_for_status()

    def log(self, job_id: str, *lines: str) -> None:
        body = {"lines": [{"text": line} for line in lines]}
        self.http.post(f"/v1/executor/jobs/{job_id}/logs", json=body).raise_for_status()

    def complete(self, job_id: str, files: dict[str, tuple[bytes, str]]) -> None:
        parts = [("files", (name, content, mime)) for name, (content, mime) in files.items()]
        self.http.post(f"/v1/executor/jobs/{job_id}/complete", files=parts).raise_for_status()


def _order(buyer: httpx.Client, agent_id: str, prompt: str, **params: Any) -> str:
    body = {"agent_id": agent_id, "prompt": prompt, "params": params}
    return str(buyer.post("/v1/jobs", json=body).raise_for_status().json()["id"])


def _prepare(url: str, buyer_key: str, executor_key: str) -> dict[str, str]:
    """Agents and jobs in every state; the job ids by state."""
    executor = _Executor(url, executor_key)
    executor.publish(
        "report-writer",
        name="Report writer",
        description=DESCRIPTION,
        tags=["report", "text"],
        pricing={"model": "per_job", "amount_cents": 250, "currency": "USD"},
        input_schema=SCHEMA,
        output_schema={"files": {"report.md": "the report", "counts.csv": "the numbers"}},
    )
    executor.publish("echo", name="Echo", description="Says the prompt back.", tags=["demo"])
    buyer = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {buyer_key}"})
    jobs: dict[str, str] = {}
    jobs["completed"] = _order(buyer, "report-writer", "Summarise the quarter", language="en")
    executor.claim()
    executor.report(jobs["completed"], "running", progress=40)
    executor.log(jobs["completed"], "reading the prompt", "counting words", "writing report.md")
    executor.complete(
        jobs["completed"],
        {
            "report.md": (
                b"# Quarter\n\nSales **rose** by 4%.\n\n- apples\n- pears\n",
                "text/markdown",
            ),
            "counts.csv": (b"fruit,count\napples,31\npears,12\n", "text/csv"),
            "meta.json": (b'{"words": 43, "language": "en"}', "application/json"),
        },
    )
    jobs["failed"] = _order(buyer, "echo", "this one breaks")
    executor.claim()
    executor.report(jobs["failed"], "failed", reason="the handler exited with status 2")
    jobs["running"] = _order(buyer, "report-writer", "A long report", language="fr", count=7)
    executor.claim()
    executor.report(jobs["running"], "running", progress=35)
    executor.log(jobs["running"], "step 1 of 3: reading", "step 2 of 3: thinking")
    jobs["pending"] = _order(buyer, "echo", "waiting for an executor")
    return jobs


def _shoot(page: Page, out: Path, name: str, size: str, scheme: str) -> None:
    page.screenshot(path=str(out / f"{name}-{size}-{scheme}.png"), full_page=True)


def _owner_pages(page: Page, url: str, executor_key: str, shoot: Any) -> None:
    page.goto(url + "/signin")
    page.get_by_label("API key").fill(executor_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")
    page.goto(url + "/my-agents")
    shoot("my-agents")


def _pages(page: Page, url: str, buyer_key: str, jobs: dict[str, str], shoot: Any) -> None:
    page.goto(url + "/signin")
    shoot("signin")
    page.get_by_label("API key").fill(buyer_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(url + "/")
    shoot("marketplace")
    page.goto(url + "/?q=nothing-matches")
    shoot("marketplace-empty")
    page.goto(url + "/agents/report-writer")
    shoot("agent")
    page.get_by_label("count").fill("50")
    page.get_by_role("button", name="Order job").click()
    page.wait_for_selector("[data-error-summary]")
    shoot("agent-errors")
    for state in ("completed", "running", "failed", "pending"):
        page.goto(f"{url}/jobs/{jobs[state]}")
        if state == "pending":
            page.get_by_text("Cancel job…").click()
        page.wait_for_timeout(300)
        shoot(f"job-{state}")
    page.goto(url + "/jobs")
    shoot("jobs")
    page.goto(url + "/account")
    shoot("account")
    page.get_by_label("New key's name").fill(f"laptop-{time.monotonic_ns()}")
    page.get_by_role("button", name="Create key").click()
    shoot("account-new-key")
    page.goto(url + "/no/such/page")
    shoot("not-found")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="agnt-shots-") as tmp,
        _server(Path(tmp)) as (
            url,
            buyer_key,
            executor_key,
        ),
    ):
        jobs = _prepare(url, buyer_key, executor_key)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            for size, viewport in SIZES.items():
                for scheme in ("light", "dark"):
                    context = browser.new_context(
                        viewport=viewport,
                        is_mobile=size == "phone",
                        has_touch=size == "phone",
                        color_scheme=scheme,  # type: ignore[arg-type]  # a Literal in playwright
                    )
                    page = context.new_page()

                    def shoot(
                        name: str, page: Page = page, size: str = size, scheme: str = scheme
                    ) -> None:
                        _shoot(page, out, name, size, scheme)

                    _pages(page, url, buyer_key, jobs, shoot)
                    context.close()
                    owner = browser.new_context(
                        viewport=viewport,
                        is_mobile=size == "phone",
                        has_touch=size == "phone",
                        color_scheme=scheme,  # type: ignore[arg-type]  # a Literal in playwright
                    )
                    owner_page = owner.new_page()
                    _owner_pages(
                        owner_page,
                        url,
                        executor_key,
                        lambda name, p=owner_page, z=size, c=scheme: _shoot(p, out, name, z, c),
                    )
                    owner.close()
            browser.close()
    shots = sorted(out.glob("*.png"))
    print(f"{len(shots)} screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
