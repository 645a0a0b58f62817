"""``/healthz`` (the process is up) and ``/readyz`` (database and storage reachable)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from agnt_api.api.deps import RuntimeDep
from agnt_models import Health

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(rt: RuntimeDep) -> JSONResponse:
    """Whether the database and the storage answer; 503 names the one that does not."""
    checks: dict[str, str] = {}
    try:
        await rt.database.check()
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readiness: database unreachable: %s", exc)
        checks["database"] = "unreachable"
    try:
        await rt.storage.check()
        checks["storage"] = "ok"
    except Exception as exc:
        log.warning("readiness: storage unreachable: %s", exc)
        checks["storage"] = "unreachable"
    ready = all(value == "ok" for value in checks.values())
    health = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(health.model_dump(mode="json"), status_code=200 if ready else 503)
