"""Input files: upload (``/v1/files``), order with files in one multipart request, and read
a job's inputs (its buyer, or the executor that holds the job)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Header, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from agnt_api.api.deps import Buyer, Executor, RuntimeDep
from agnt_api.api.multipart import iter_form_parts
from agnt_api.api.routes.files import DOWNLOAD_HEADERS
from agnt_api.errors import (
    InputFilesNotAccepted,
    PayloadTooLarge,
    TooManyInputFiles,
    ValidationFailed,
)
from agnt_api.ratelimit import RATE_LIMITED_RESPONSES, RateAction, RateLimit
from agnt_api.runtime import Runtime
from agnt_api.services import buyer, input_files
from agnt_api.services.input_files import MULTIPART_OVERHEAD_BYTES, StoredInput
from agnt_api.services.results import check_executor_attempt, mime_of
from agnt_api.settings import Settings
from agnt_models import (
    ATTEMPT_HEADER,
    FieldError,
    InputFile,
    InputRef,
    Job,
    JobCreate,
    JobInputs,
    content_disposition,
)

FILE_FIELD = "file"
ORDER_FIELD = "order"
FILES_FIELD = "files"

_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def upload_body_limit(settings: Settings) -> int:
    """The largest body ``POST /v1/files`` reads: one input file and its part headers."""
    return settings.max_input_bytes + MULTIPART_OVERHEAD_BYTES


def order_body_limit(settings: Settings) -> int:
    """The largest multipart ``POST /v1/jobs``: the order, its files, their part headers."""
    return settings.max_input_bytes + settings.max_body_bytes + MULTIPART_OVERHEAD_BYTES


def is_multipart(headers: Headers) -> bool:
    """Whether the request body is multipart/form-data."""
    return headers.get("content-type", "").lower().startswith("multipart/form-data")


class MultipartOnlyRoute(APIRoute):
    """A route that matches only multipart/form-data requests, so the JSON route of the same
    path and method (``POST /v1/jobs``) keeps serving everything else."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match as usual, but never a request whose body is not multipart."""
        match, child = super().matches(scope)
        if match is not Match.NONE and not is_multipart(Headers(scope=scope)):
            return Match.NONE, {}
        return match, child


router = APIRouter(tags=["inputs"])
multipart_orders = APIRouter(tags=["jobs"], route_class=MultipartOnlyRoute)
"""Only ``POST /v1/jobs`` with a multipart body; include it before the jobs router."""


@router.post(
    "/v1/files",
    response_model=InputFile,
    status_code=status.HTTP_201_CREATED,
    openapi_extra=_FILE_BODY,
    responses={
        413: {"description": "The file is larger than `AGNT_MAX_INPUT_BYTES`."},
    },
)
async def upload_file(rt: RuntimeDep, caller: Buyer, request: Request) -> InputFile:
    """Upload one input file (multipart part ``file``), streamed to storage with its sha256.

    Orders reference it by id (``inputs: [{file_id, name?}]``); unused, it is deleted after
    ``AGNT_INPUT_FILE_TTL_SECONDS`` (a day). Larger than ``AGNT_MAX_INPUT_BYTES``: 413
    ``input_too_large``, and nothing is kept.
    """
    limit = rt.settings.max_input_bytes
    input_files.check_declared_length(
        request.headers.get("content-length"), upload_body_limit(rt.settings)
    )
    stored: StoredInput | None = None
    try:
        async for part in iter_form_parts(request):
            if part.filename is None or part.field != FILE_FIELD:
                raise ValidationFailed(
                    f"send one file in a multipart part named {FILE_FIELD!r}",
                    errors=[FieldError(loc=part.field or "body", message="unexpected part")],
                )
            if stored is not None:
                raise ValidationFailed(
                    "send one file per upload",
                    errors=[FieldError(loc=FILE_FIELD, message="more than one file")],
                )
            stored = await input_files.upload_input_file(
                rt, caller, part.filename, part.content_type, part.chunks, limit=limit
            )
    except BaseException:
        if stored is not None:
            await input_files.delete_input_files(rt, caller, [stored.id])
        raise
    if stored is None:
        raise ValidationFailed(
            f"send one file in a multipart part named {FILE_FIELD!r}",
            errors=[FieldError(loc=FILE_FIELD, message="no file")],
        )
    return stored.to_wire()


@router.get("/v1/files/{file_id}", response_model=InputFile)
async def get_file(rt: RuntimeDep, caller: Buyer, file_id: uuid.UUID) -> InputFile:
    """An input file the caller uploaded (another buyer's is 404 ``input_file_not_found``)."""
    return await input_files.get_input_file(rt, caller, file_id)


@router.delete("/v1/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(rt: RuntimeDep, caller: Buyer, file_id: uuid.UUID) -> Response:
    """Delete an input file no job uses (409 ``input_file_in_use`` once a job does)."""
    await input_files.delete_input_file(rt, caller, file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _read_bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the {ORDER_FIELD!r} part is larger than {limit} bytes")
    return bytes(body)


def _parse_order(raw: bytes) -> JobCreate:
    try:
        return JobCreate.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        errors: list[Any] = [
            {**error, "loc": (ORDER_FIELD, *error.get("loc", ()))} for error in exc.errors()
        ]
        raise RequestValidationError(errors) from exc


async def _order_with_uploads(
    rt: Runtime, caller: Any, request: Request, idempotency_key: str | None
) -> tuple[Job, bool]:
    """Read the order part, stream each file part to storage (checked against the server's
    limits and the agent's rule before it is stored), then order with them as inputs.

    Whatever goes wrong, the files uploaded so far are deleted.
    """
    settings = rt.settings
    order: JobCreate | None = None
    uploaded: list[StoredInput] = []
    try:
        rule = None
        async for part in iter_form_parts(request):
            if part.filename is None and part.field == ORDER_FIELD and order is None:
                order = _parse_order(await _read_bounded(part.chunks, settings.max_body_bytes))
                rule = await rt.database.run(input_files.agent_rule, order.agent_id)
                continue
            if part.field != FILES_FIELD or part.filename is None or order is None:
                raise ValidationFailed(
                    f"send the order as the first part, named {ORDER_FIELD!r} (JSON), then "
                    f"each file in a part named {FILES_FIELD!r}",
                    errors=[FieldError(loc=part.field or "body", message="unexpected part")],
                )
            count = len(order.inputs) + len(uploaded)
            if count >= settings.max_input_files:
                raise TooManyInputFiles(
                    f"an order carries at most {settings.max_input_files} input files",
                    errors=[FieldError(loc=FILES_FIELD, message="too many files")],
                )
            media_type = mime_of(part.filename, part.content_type)
            if rule is not None:
                problem = None
                if count >= rule.max:
                    problem = f"this agent takes at most {rule.max} input file(s)"
                elif not rule.allows_media_type(media_type):
                    allowed = ", ".join(rule.media_types)
                    problem = f"this agent does not take {media_type} files (it takes: {allowed})"
                if problem is not None:
                    raise InputFilesNotAccepted(
                        problem, errors=[FieldError(loc=FILES_FIELD, message=problem)]
                    )
            budget = settings.max_input_bytes - sum(stored.size for stored in uploaded)
            uploaded.append(
                await input_files.upload_input_file(
                    rt, caller, part.filename, part.content_type, part.chunks, limit=budget
                )
            )
        if order is None:
            raise ValidationFailed(
                f"the multipart order has no {ORDER_FIELD!r} part",
                errors=[FieldError(loc=ORDER_FIELD, message="missing")],
            )
        refs = [*order.inputs, *(InputRef(file_id=stored.id) for stored in uploaded)]
        job, created = await buyer.order_job(
            rt, caller, order.model_copy(update={"inputs": refs}), idempotency_key
        )
    except BaseException:
        await input_files.delete_input_files(rt, caller, [stored.id for stored in uploaded])
        raise
    return job, created


@multipart_orders.post(
    "/v1/jobs",
    response_model=Job,
    status_code=status.HTTP_201_CREATED,
    include_in_schema=False,
    dependencies=[Depends(RateLimit(RateAction.ORDERS))],
    responses=RATE_LIMITED_RESPONSES,
)
async def order_with_files(
    rt: RuntimeDep,
    caller: Buyer,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
    ] = None,
) -> Job:
    """Order a job and upload its input files in one multipart/form-data request.

    The first part, ``order``, is the JSON order (``JobCreate``); each following part named
    ``files`` is an input file (its name: the part's file name). Limits and the agent's
    ``input_files`` rule are checked before each file is stored; a refused order keeps none.
    """
    input_files.check_declared_length(
        request.headers.get("content-length"), order_body_limit(rt.settings)
    )
    job, created = await _order_with_uploads(rt, caller, request, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return job


@router.get("/v1/jobs/{job_id}/inputs", response_model=JobInputs)
async def list_inputs(
    rt: RuntimeDep, caller: Buyer, job_id: uuid.UUID, request: Request
) -> JobInputs:
    """The caller's job's input files, with download URLs."""
    return await input_files.list_job_inputs(
        rt, caller, job_id, as_executor=False, base_url=str(request.base_url)
    )


@router.get("/v1/executor/jobs/{job_id}/inputs", response_model=JobInputs)
async def list_executor_inputs(
    rt: RuntimeDep,
    caller: Executor,
    job_id: uuid.UUID,
    request: Request,
    attempt: Annotated[int | None, Header(alias=ATTEMPT_HEADER, ge=1)] = None,
) -> JobInputs:
    """The input files of a job the caller holds (accepted or running), with download URLs.

    With an ``Agnt-Attempt`` header, a run that lost the job gets 409 ``stale_attempt``.
    """
    await check_executor_attempt(rt, caller, job_id, attempt)
    return await input_files.list_job_inputs(
        rt, caller, job_id, as_executor=True, base_url=str(request.base_url)
    )


async def _serve(rt: Runtime, stored: StoredInput, name: str) -> Response:
    url = await rt.storage.presigned_url(
        stored.storage_key,
        filename=name,
        content_type=stored.media_type,
        expires_in=rt.settings.download_url_seconds,
    )
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    headers = {
        **DOWNLOAD_HEADERS,
        "ETag": f'"{stored.sha256}"',
        "Content-Disposition": content_disposition(name),
        "Content-Length": str(stored.size),
    }
    return StreamingResponse(
        rt.storage.read(stored.storage_key), headers=headers, media_type=stored.media_type
    )


_DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes."},
    307: {"description": "Where storage is S3: a presigned URL of the file."},
}


@router.get(
    "/v1/jobs/{job_id}/inputs/{name}",
    response_class=StreamingResponse,
    responses=_DOWNLOAD_RESPONSES,
)
async def download_input(
    rt: RuntimeDep,
    caller: Buyer,
    job_id: uuid.UUID,
    name: Annotated[str, Path(max_length=255)],
) -> Response:
    """One input file of the caller's job (a redirect to storage where storage is S3)."""
    stored = await input_files.job_input(rt, caller, job_id, name, as_executor=False)
    return await _serve(rt, stored, name)


@router.get(
    "/v1/executor/jobs/{job_id}/inputs/{name}",
    response_class=StreamingResponse,
    responses=_DOWNLOAD_RESPONSES,
)
async def download_executor_input(
    rt: RuntimeDep,
    caller: Executor,
    job_id: uuid.UUID,
    name: Annotated[str, Path(max_length=255)],
    attempt: Annotated[int | None, Header(alias=ATTEMPT_HEADER, ge=1)] = None,
) -> Response:
    """One input file of a job the caller holds (accepted or running).

    With an ``Agnt-Attempt`` header, a run that lost the job gets 409 ``stale_attempt``.
    """
    await check_executor_attempt(rt, caller, job_id, attempt)
    stored = await input_files.job_input(rt, caller, job_id, name, as_executor=True)
    return await _serve(rt, stored, name)
