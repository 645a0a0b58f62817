"""The layer rule: the client side of agnt never depends on the server side.

Checked twice: on the installed dependency closure (what `pip install agnt-client` brings)
and on the modules actually imported at run time.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

SERVER_SIDE = {"agnt-api", "fastapi", "sqlalchemy", "starlette", "alembic", "uvicorn", "boto3"}
CLIENT_SIDE = ["agnt-client", "agnt-cli", "agnt-executor"]


def _closure(dist: str) -> set[str]:
    seen: set[str] = set()
    todo = [dist]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


@pytest.mark.parametrize("dist", CLIENT_SIDE)
def test_client_side_dependency_closure_has_no_server_package(dist: str) -> None:
    assert _closure(dist) & SERVER_SIDE == set()


def test_client_dependency_closure_is_httpx_pydantic_and_models_only() -> None:
    direct = {Requirement(r).name for r in metadata.requires("agnt-client") or []}
    assert direct == {"agnt-models", "httpx", "pydantic"}


@pytest.mark.parametrize("module", ["agnt_client", "agnt_cli", "agnt_executor"])
def test_client_side_imports_no_server_module(module: str) -> None:
    code = (
        f"import sys, pkgutil, importlib, {module};"
        # __main__ runs the command when imported; it imports nothing the package does not.
        f"[importlib.import_module(m.name) for m in pkgutil.walk_packages({module}.__path__, '{module}.') if not m.name.endswith('__main__')];"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('agnt_api', 'fastapi', 'sqlalchemy', 'starlette', 'alembic', 'uvicorn', 'boto3'));"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
