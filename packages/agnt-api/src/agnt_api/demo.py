"""``agnt-server demo``: the API and a demo executor on this machine, one command.

Everything lives in the data directory (default ``./.agnt-demo``): the SQLite database,
the result files, the keys (reused across restarts, mode 0600) and ``demo.env``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from agnt_api.db import Database
from agnt_api.db.migrate import upgrade
from agnt_api.services import keys
from agnt_api.settings import KEEP_ALIVE_SECONDS, Settings, load_settings
from agnt_models import Role

KEYS_FILE = "demo-keys.json"
ENV_FILE = "demo.env"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def demo_keys(settings: Settings) -> dict[str, str]:
    """The demo's buyer and executor keys: the stored ones if still valid, else new ones."""
    path = settings.data_dir / KEYS_FILE
    database = Database(settings.database_url)
    try:
        stored: dict[str, str] = {}
        if path.exists():
            with contextlib.suppress(ValueError, OSError):
                loaded = json.loads(path.read_text())
                if isinstance(loaded, dict):
                    stored = {str(k): str(v) for k, v in loaded.items()}
        result: dict[str, str] = {}
        for role in (Role.BUYER, Role.EXECUTOR):
            key = stored.get(role.value)
            principal = database.transact(keys.authenticate, key) if key else None
            if key is None or principal is None or principal.role is not role:
                created = database.transact_write(keys.create_key, role, f"demo-{role.value}", None)
                key = created.key
            result[role.value] = key
    finally:
        database.dispose()
    _write_private(path, json.dumps(result, indent=2) + "\n")
    return result


def executor_command() -> list[str] | None:
    """The demo executor's command line, or ``None`` when agnt_executor has no demo yet."""
    try:
        from agnt_executor import demo
    except ImportError:
        return None
    manifest = demo.manifest_path()
    return [sys.executable, "-m", "agnt_executor", "run", str(manifest)]


async def _serve(settings: Settings, port: int, executor_key: str, buyer_key: str) -> None:
    import uvicorn

    from agnt_api.app import create_app

    class DemoServer(uvicorn.Server):
        """uvicorn without its own signal handling: Ctrl-C must stop the executor too."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    url = f"http://127.0.0.1:{port}"
    server = DemoServer(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, setattr, server, "should_exit", True)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    _write_private(settings.data_dir / ENV_FILE, f"AGNT_API_URL={url}\nAGNT_API_KEY={buyer_key}\n")
    command = executor_command()
    child: asyncio.subprocess.Process | None = None
    if command is None:
        print(
            "note: the demo executor (agnt_executor.demo) is not installed; "
            "serving the API only, so jobs stay pending.",
            file=sys.stderr,
        )
    else:
        child_env = {**os.environ, "AGNT_API_URL": url, "AGNT_API_KEY": executor_key}
        child = await asyncio.create_subprocess_exec(*command, env=child_env)
    env_path = settings.data_dir / ENV_FILE
    print(
        f"agnt demo is running at {url}\n"
        f"buyer key: {buyer_key}\n"
        f"use it:    set -a; . {env_path}; set +a; agnt search demo\n"
        "Ctrl-C stops the API and the demo executor.",
        flush=True,
    )
    try:
        await serving
    finally:
        if child is not None and child.returncode is None:
            child.terminate()
            try:
                async with asyncio.timeout(10):
                    await child.wait()
            except TimeoutError:
                child.kill()
                await child.wait()


def run_demo(data_dir: str, port: int) -> int:
    """Migrate, make keys, serve the API and run the demo executor until Ctrl-C."""
    root = Path(data_dir).expanduser().absolute()
    settings = load_settings(
        data_dir=root,
        database_url=f"sqlite:///{root / 'agnt.db'}",
        storage_url=(root / "objects").as_uri(),
    )
    root.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()
    pair = demo_keys(settings)
    # demo.env appears again once the API answers: its presence means "ready".
    (root / ENV_FILE).unlink(missing_ok=True)
    try:
        asyncio.run(_serve(settings, port, pair[Role.EXECUTOR.value], pair[Role.BUYER.value]))
    except KeyboardInterrupt:
        # Ctrl-C before the API was up: nothing was started yet.
        return 130
    return 0
