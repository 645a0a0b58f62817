"""The ceiling: the least Python can do per request on agnt's job path (bench only).

A bare ASGI app on uvicorn (uvloop, httptools) over agnt's migrated Postgres schema: each
request is an uncached API-key lookup plus ONE statement. The claim is the
``FOR UPDATE SKIP LOCKED`` update, ``pg_notify`` sits inside the status statement (Postgres
delivers it at commit), and a completion writes its file (fsync) and its row in one thread
hop. No validation beyond what the load generator needs, no logging: what agnt's request
path costs above this is framework and structure, not Postgres or HTTP.

Two database drivers, picked by ``--mode``: ``async`` runs psycopg's async pool on the
event loop; ``sync`` runs psycopg's sync pool in worker threads (one hop per request: the
key lookup and the statement together), the design agnt had before issue 14. A ``LISTEN``
connection (async in both modes) wakes claim long-polls when a job arrives.

    python bench/ceiling_app.py --database-url URL --port P [--workers N] [--mode async|sync]

Routes (the load generator's subset of agnt's API, same paths and shapes):
``GET /healthz``, ``GET /v1/agents/{id}``, ``POST /v1/jobs``, ``POST /v1/executor/claims``,
``POST /v1/executor/jobs/{id}/status``, ``POST /v1/executor/jobs/{id}/complete``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHANNEL = "agnt_events"
KEY_PREFIX_LENGTH = len("agnt_") + 8  # agnt_api.auth.PREFIX_LENGTH
LEASE = "interval '60 seconds'"
JOB_COLUMNS = "id, agent_id, status, prompt, created_at"

KEY_SQL = (
    "SELECT k.key_hash, p.id, p.role FROM api_keys k JOIN principals p ON p.id = k.principal_id"
    " WHERE k.prefix = %s AND k.revoked_at IS NULL"
)
AGENT_SQL = "SELECT id, name, description, tags, pricing, created_at FROM agents WHERE id = %s"
CREATE_SQL = f"""
WITH j AS (
  INSERT INTO jobs (id, agent_id, buyer_id, prompt, params, status, progress, created_at, updated_at)
  SELECT %s, a.id, %s, %s, %s::jsonb, 'pending', 0, now(), now() FROM agents a WHERE a.id = %s
  RETURNING {JOB_COLUMNS}
)
SELECT j.*, pg_notify('{CHANNEL}', 'owner:' || (SELECT owner_id FROM agents WHERE id = j.agent_id))
FROM j
"""
CLAIM_SQL = f"""
WITH picked AS MATERIALIZED (
  SELECT id FROM jobs
  WHERE status = 'pending' AND agent_id = ANY(%s)
    AND agent_id IN (SELECT id FROM agents WHERE owner_id = %s)
  ORDER BY created_at, id LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'accepted', updated_at = now(), lease_expires_at = now() + {LEASE}
FROM picked WHERE jobs.id = picked.id AND jobs.status = 'pending'
RETURNING jobs.id, jobs.agent_id, jobs.status, jobs.prompt, jobs.created_at,
  pg_notify('{CHANNEL}', 'job:' || jobs.id)
"""
RUNNING_SQL = f"""
UPDATE jobs SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now(),
  lease_expires_at = now() + {LEASE}
WHERE id = %s AND status IN ('accepted', 'running')
  AND agent_id IN (SELECT id FROM agents WHERE owner_id = %s)
RETURNING {JOB_COLUMNS}, pg_notify('{CHANNEL}', 'job:' || id)
"""
COMPLETE_SQL = f"""
WITH u AS (
  UPDATE jobs SET status = 'completed', progress = 100, completed_at = now(), updated_at = now(),
    lease_expires_at = NULL
  WHERE id = %s AND status = 'running' AND agent_id IN (SELECT id FROM agents WHERE owner_id = %s)
  RETURNING {JOB_COLUMNS}
), r AS (
  INSERT INTO job_results (job_id, files, created_at) SELECT id, %s::jsonb, now() FROM u
)
SELECT u.*, pg_notify('{CHANNEL}', 'job:' || u.id) FROM u
"""

_JOB_PATH = re.compile(r"^/v1/executor/jobs/([0-9a-f-]{36})/(status|complete)$")
_FILENAME = re.compile(rb'filename="([^"]*)"')


class HttpError(Exception):
    """An answer other than 200."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def _job(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": str(row[0]),
        "agent_id": row[1],
        "status": row[2],
        "prompt": row[3],
        "created_at": row[4].isoformat(),
    }


def _caller(key_row: tuple[Any, ...] | None, key: str) -> tuple[uuid.UUID, str]:
    if key_row is None or not hmac.compare_digest(
        hashlib.sha256(key.encode()).hexdigest(), key_row[0]
    ):
        raise HttpError(401, "unauthenticated")
    return key_row[1], key_row[2]


def _parse_multipart(content_type: str, body: bytes) -> tuple[str, bytes]:
    """The first file part's name and bytes (enough for the bench's one-file completion)."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    part = body.split(b"--" + boundary, 2)[1]
    head, _, content = part.partition(b"\r\n\r\n")
    found = _FILENAME.search(head)
    return (found[1].decode() if found else "file"), content.removesuffix(b"\r\n")


def _store_file(root: Path, job_id: str, name: str, data: bytes) -> dict[str, Any]:
    """Write the file durably (fsync) under the job's folder; its record."""
    folder = root / "jobs" / job_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class Waiters:
    """Claim long-polls waiting for a job of one owner; woken by the LISTEN connection."""

    def __init__(self) -> None:
        self._by_owner: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def subscribe(self, owner: str) -> Any:
        event = asyncio.Event()
        self._by_owner.setdefault(owner, set()).add(event)
        try:
            yield event
        finally:
            self._by_owner[owner].discard(event)

    def wake(self, owner: str) -> None:
        for event in self._by_owner.get(owner, ()):
            event.set()


class App:
    """The ASGI application."""

    def __init__(self, database_url: str, data_dir: Path, mode: str) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.mode = mode
        self.waiters = Waiters()
        self.async_pool: AsyncConnectionPool | None = None
        self.sync_pool: ConnectionPool | None = None
        self.threads = ThreadPoolExecutor(max_workers=16)
        self.listener: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if self.mode == "async":
            self.async_pool = AsyncConnectionPool(
                self.database_url,
                min_size=16,
                max_size=16,
                open=False,
                kwargs={"autocommit": True},
            )
            await self.async_pool.open(wait=True)
        else:
            self.sync_pool = ConnectionPool(
                self.database_url,
                min_size=16,
                max_size=16,
                open=False,
                kwargs={"autocommit": True},
            )
            self.sync_pool.open(wait=True)
        ready = asyncio.Event()
        self.listener = asyncio.create_task(self._listen(ready))
        await ready.wait()

    async def shutdown(self) -> None:
        if self.listener:
            self.listener.cancel()
        if self.async_pool:
            await self.async_pool.close()
        if self.sync_pool:
            self.sync_pool.close()
        self.threads.shutdown(wait=False)

    async def _listen(self, ready: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True
        ) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            ready.set()
            async for note in connection.notifies():
                if note.payload.startswith("owner:"):
                    self.waiters.wake(note.payload[6:])

    # One database round: the key lookup and one statement, on the chosen driver.

    async def _one(
        self, key: str, role: str, sql: str | None, params: Callable[[uuid.UUID], tuple[Any, ...]]
    ) -> tuple[uuid.UUID, list[tuple[Any, ...]]]:
        prefix = key[:KEY_PREFIX_LENGTH]
        if self.async_pool is not None:
            async with self.async_pool.connection() as connection:
                key_row = await (await connection.execute(KEY_SQL, (prefix,))).fetchone()
                caller, caller_role = _caller(key_row, key)
                if caller_role != role:
                    raise HttpError(403, "forbidden")
                if sql is None:
                    return caller, []
                rows = await (await connection.execute(sql, params(caller))).fetchall()
                return caller, rows

        def work() -> tuple[uuid.UUID, list[tuple[Any, ...]]]:
            assert self.sync_pool is not None
            with self.sync_pool.connection() as connection:
                key_row = connection.execute(KEY_SQL, (prefix,)).fetchone()
                caller, caller_role = _caller(key_row, key)
                if caller_role != role:
                    raise HttpError(403, "forbidden")
                if sql is None:
                    return caller, []
                return caller, connection.execute(sql, params(caller)).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self.threads, work)

    async def _complete(
        self, key: str, job_id: str, name: str, data: bytes
    ) -> list[tuple[Any, ...]]:
        """File (fsync) and row: one thread hop in sync mode, the file's hop plus the
        statement on the loop in async mode."""
        loop = asyncio.get_running_loop()
        prefix = key[:KEY_PREFIX_LENGTH]
        if self.async_pool is not None:
            record = await loop.run_in_executor(
                self.threads, _store_file, self.data_dir, job_id, name, data
            )
            _, rows = await self._one(
                key, "executor", COMPLETE_SQL, lambda me: (job_id, me, json.dumps([record]))
            )
            return rows

        def work() -> list[tuple[Any, ...]]:
            assert self.sync_pool is not None
            record = _store_file(self.data_dir, job_id, name, data)
            with self.sync_pool.connection() as connection:
                caller, role = _caller(connection.execute(KEY_SQL, (prefix,)).fetchone(), key)
                if role != "executor":
                    raise HttpError(403, "forbidden")
                return connection.execute(
                    COMPLETE_SQL, (job_id, caller, json.dumps([record]))
                ).fetchall()

        return await loop.run_in_executor(self.threads, work)

    async def handle(self, method: str, path: str, headers: dict[bytes, bytes], body: bytes) -> Any:
        if path == "/healthz":
            return {"status": "ok"}
        authorization = headers.get(b"authorization", b"").decode()
        key = authorization.removeprefix("Bearer ")
        if method == "GET" and path.startswith("/v1/agents/"):
            agent_id = path.removeprefix("/v1/agents/")
            rows = await self._one_any(key, AGENT_SQL, (agent_id,))
            if not rows:
                raise HttpError(404, "agent_not_found")
            row = rows[0]
            return {
                "id": row[0],
                "name": row[1],
                "description": row[2],
                "tags": row[3],
                "pricing": row[4],
                "created_at": row[5].isoformat(),
            }
        if method == "POST" and path == "/v1/jobs":
            request = json.loads(body)
            _, rows = await self._one(
                key,
                "buyer",
                CREATE_SQL,
                lambda me: (
                    uuid.uuid4(),
                    me,
                    request["prompt"],
                    json.dumps(request.get("params", {})),
                    request["agent_id"],
                ),
            )
            if not rows:
                raise HttpError(404, "agent_not_found")
            return _job(rows[0])
        if method == "POST" and path == "/v1/executor/claims":
            return await self._claim(key, json.loads(body))
        matched = _JOB_PATH.match(path)
        if method == "POST" and matched:
            job_id, action = matched[1], matched[2]
            if action == "status":
                report = json.loads(body)
                if report.get("status") != "running":
                    raise HttpError(422, "unsupported_in_ceiling")
                _, rows = await self._one(key, "executor", RUNNING_SQL, lambda me: (job_id, me))
            else:
                name, data = _parse_multipart(headers.get(b"content-type", b"").decode(), body)
                rows = await self._complete(key, job_id, name, data)
            if not rows:
                raise HttpError(409, "invalid_transition")
            return _job(rows[0])
        raise HttpError(404, "not_found")

    async def _one_any(self, key: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The key lookup (any role) and one read."""
        prefix = key[:KEY_PREFIX_LENGTH]
        if self.async_pool is not None:
            async with self.async_pool.connection() as connection:
                _caller(await (await connection.execute(KEY_SQL, (prefix,))).fetchone(), key)
                return await (await connection.execute(sql, params)).fetchall()

        def work() -> list[tuple[Any, ...]]:
            assert self.sync_pool is not None
            with self.sync_pool.connection() as connection:
                _caller(connection.execute(KEY_SQL, (prefix,)).fetchone(), key)
                return connection.execute(sql, params).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self.threads, work)

    async def _claim(self, key: str, request: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + float(request.get("wait", 0))
        limit = int(request.get("max", 1))
        agent_ids = request.get("agent_ids") or []
        owner: str | None = None
        while True:
            # Subscribed before the attempt: a job arriving in between still wakes us.
            with self.waiters.subscribe(owner or "") as arrived:
                caller, rows = await self._one(
                    key, "executor", CLAIM_SQL, lambda me: (agent_ids, me, limit)
                )
                if rows or time.monotonic() >= deadline:
                    return {"items": [_job(row) for row in rows]}
                if owner is None:
                    owner = str(caller)  # known after the first lookup: subscribe, retry now
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), deadline - time.monotonic())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            status, answer = (
                200,
                await self.handle(scope["method"], scope["path"], dict(scope["headers"]), body),
            )
        except HttpError as error:
            status, answer = error.status, {"code": error.code}
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _from_env() -> App:
    return App(
        os.environ["CEILING_DATABASE_URL"],
        Path(os.environ["CEILING_DATA_DIR"]),
        os.environ.get("CEILING_MODE", "async"),
    )


app = _from_env() if "CEILING_DATABASE_URL" in os.environ else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--mode", choices=["async", "sync"], default="async")
    args = parser.parse_args()
    os.environ.update(
        CEILING_DATABASE_URL=args.database_url,
        CEILING_DATA_DIR=args.data_dir,
        CEILING_MODE=args.mode,
    )
    import uvicorn

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run(
        "ceiling_app:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
