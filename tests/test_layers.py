"""The layer rules: the client side of agnt never depends on the server side, and the
server never depends on the client side (the executor, the client) except through the
``agnt-api[demo]`` extra that `agnt-server demo` needs. httpx is allowed on both sides: the
API delivers webhooks with it.

Checked on the installed dependency closure (what `pip install agnt-client` brings), on the
modules actually imported at run time, and on the import statements of the source.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

SERVER_SIDE = {"agnt-api", "fastapi", "sqlalchemy", "starlette", "alembic", "uvicorn", "boto3"}
CLIENT_SIDE = ["agnt-client", "agnt-cli", "agnt-executor"]


CLIENT_SIDE_MODULES = ("agnt_executor", "agnt_client")
API_SOURCE = Path(__file__).resolve().parent.parent / "packages" / "agnt-api" / "src" / "agnt_api"
# The one place agnt_api may import the client side: the demo's executor, behind [demo].
DEMO_IMPORT = ("agnt_api/demo.py", "executor_command", "agnt_executor")


def _closure(dist: str, extras: tuple[str, ...] = ()) -> set[str]:
    """Every distribution ``dist`` pulls in with ``extras`` (none of its dependencies')."""
    seen: set[str] = set()
    for line in metadata.requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and any(req.marker.evaluate({"extra": e}) for e in extras):
            seen |= _closure(req.name)
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


def test_api_dependency_closure_without_demo_has_no_client_side() -> None:
    closure = _closure("agnt-api")
    assert "agnt-models" in closure
    assert closure & {"agnt-executor", "agnt-client"} == set()


def test_api_demo_extra_brings_the_executor() -> None:
    assert {"agnt-executor", "agnt-client"} <= _closure("agnt-api", ("demo",))


def test_api_imports_no_client_side_module_at_run_time() -> None:
    code = (
        "import sys, pkgutil, importlib, agnt_api;"
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(agnt_api.__path__, 'agnt_api.')];"
        "import agnt_api.cli, agnt_api.app;"
        "agnt_api.app.create_app;"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {CLIENT_SIDE_MODULES!r});"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def _client_side_imports(path: Path) -> list[tuple[str, str]]:
    """(enclosing function, module) of every import of a client-side module in ``path``."""
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            modules: list[str] = []
            if isinstance(child, ast.Import):
                modules = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                modules = [child.module]
            found.extend((name, m) for m in modules if m.split(".")[0] in CLIENT_SIDE_MODULES)
            visit(child, name)

    visit(ast.parse(path.read_text()), "")
    return found


def test_api_source_imports_the_client_side_only_in_the_demo_executor() -> None:
    found = {
        (path.relative_to(API_SOURCE.parent).as_posix(), function, module)
        for path in API_SOURCE.rglob("*.py")
        for function, module in _client_side_imports(path)
    }
    assert found == {DEMO_IMPORT}


def test_mcp_tools_depend_on_neither_side() -> None:
    """agnt-mcp's tools are shared: `agnt mcp` backs them with the client, the API's /mcp
    with its services; so the package itself needs neither (nor pulls either in)."""
    assert _closure("agnt-mcp") & {"agnt-api", "agnt-client", "agnt-cli", "agnt-executor"} == set()
    code = (
        "import sys, agnt_mcp.server, agnt_mcp.backend;"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in "
        "('agnt_api', 'agnt_client', 'agnt_cli', 'agnt_executor'));"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_cli_brings_the_mcp_sdk_only_with_its_mcp_extra() -> None:
    """The MCP SDK pulls starlette and uvicorn: `pip install agnt-cli` must not."""
    assert "mcp" not in _closure("agnt-cli")
    assert {"agnt-mcp", "mcp"} <= _closure("agnt-cli", ("mcp",))
