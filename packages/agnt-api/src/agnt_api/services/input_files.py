"""Input files: a buyer uploads them (streamed to storage), an order attaches them to a job,
the job's buyer and the executor holding the job read them, the reaper deletes unused ones.

An upload is bounded by ``AGNT_MAX_INPUT_BYTES`` while it streams: past the limit the
stream stops, the partial object is deleted and nothing is recorded. A file belongs to the
buyer who uploaded it; another buyer's id is answered as unknown (404). An order takes
the files it names in its own write transaction (``attach_inputs``): from then on the file
no longer expires and lives as long as the job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio
import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.tables import agents, input_files, job_inputs, jobs
from agnt_api.errors import (
    AgentNotFound,
    InputFileInUse,
    InputFileNotFound,
    InputFilesNotAccepted,
    InputTooLarge,
    JobNotFound,
    TooManyInputFiles,
    ValidationFailed,
)
from agnt_api.runtime import Runtime
from agnt_api.services.records import as_utc, utc_now
from agnt_api.services.results import mime_of
from agnt_api.services.transitions import buyer_scope, executor_scope
from agnt_models import (
    LEASED,
    FieldError,
    InputFile,
    InputFilesRule,
    InputRef,
    JobCreate,
    JobInput,
    JobInputs,
    ResultNames,
    check_result_name,
)

log = logging.getLogger(__name__)

MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""What a multipart body may carry beyond its files' bytes (boundaries, part headers)."""


@dataclass(frozen=True)
class StoredInput:
    """An ``input_files`` row: the file as recorded, with its storage key."""

    id: uuid.UUID
    owner_id: uuid.UUID
    name: str
    storage_key: str
    size: int
    sha256: str
    media_type: str
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, row: sa.Row[Any]) -> StoredInput:
        """The stored input of an ``input_files`` row."""
        return cls(
            id=row.id,
            owner_id=row.owner_id,
            name=row.name,
            storage_key=row.storage_key,
            size=row.size,
            sha256=row.sha256,
            media_type=row.media_type,
            created_at=as_utc(row.created_at),
            expires_at=None if row.expires_at is None else as_utc(row.expires_at),
        )

    def to_wire(self) -> InputFile:
        """The ``InputFile`` a buyer sees (no storage key)."""
        return InputFile(
            id=self.id,
            name=self.name,
            size=self.size,
            sha256=self.sha256,
            media_type=self.media_type,
            created_at=self.created_at,
            expires_at=self.expires_at,
        )


def check_input_name(name: str, loc: str = "file") -> None:
    """``ValidationFailed`` unless ``name`` follows the file-name rule of result files."""
    try:
        check_result_name(name)
    except ValueError as exc:
        raise ValidationFailed(str(exc), errors=[FieldError(loc=loc, message=str(exc))]) from exc


def check_declared_length(content_length: str | None, limit: int) -> None:
    """``InputTooLarge`` before reading a body whose ``Content-Length`` says it is too big."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise InputTooLarge(
            f"the upload is {content_length} bytes; input files may hold at most {limit}",
            errors=[FieldError(loc="file", message=f"more than {limit} bytes")],
        )


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The bytes of ``chunks``; ``InputTooLarge`` as soon as they pass ``limit``."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise InputTooLarge(
                f"the input file is larger than {limit} bytes",
                errors=[FieldError(loc="file", message=f"more than {limit} bytes")],
            )
        yield chunk


async def upload_input_file(
    rt: Runtime,
    owner: Principal,
    name: str,
    declared_type: str | None,
    chunks: AsyncIterator[bytes],
    *,
    limit: int,
) -> StoredInput:
    """Stream one file to storage and record it for ``owner``; at most ``limit`` bytes.

    If the stream passes the limit or anything fails, the object is deleted (storage's
    ``save`` leaves nothing behind an error) and no row is written.
    """
    check_input_name(name)
    media_type = mime_of(name, declared_type)
    file_id = uuid.uuid4()
    key = f"inputs/{file_id}"
    saved = await rt.storage.save(key, _bounded(chunks, limit), content_type=media_type)
    now = utc_now()
    stored = StoredInput(
        id=file_id,
        owner_id=owner.id,
        name=name,
        storage_key=key,
        size=saved.size,
        sha256=saved.sha256,
        media_type=media_type[:255],
        created_at=now,
        expires_at=now + timedelta(seconds=rt.settings.input_file_ttl_seconds),
    )
    try:
        await rt.database.write(_insert_input, stored)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await rt.storage.delete(key)
        raise
    return stored


def _insert_input(connection: sa.Connection, stored: StoredInput) -> None:
    connection.execute(
        input_files.insert().values(
            id=stored.id,
            owner_id=stored.owner_id,
            name=stored.name,
            storage_key=stored.storage_key,
            size=stored.size,
            sha256=stored.sha256,
            media_type=stored.media_type,
            created_at=stored.created_at,
            expires_at=stored.expires_at,
        )
    )


def _owned_file(connection: sa.Connection, owner: Principal, file_id: uuid.UUID) -> StoredInput:
    row = connection.execute(
        sa.select(input_files).where(
            input_files.c.id == file_id, input_files.c.owner_id == owner.id
        )
    ).one_or_none()
    if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= utc_now()):
        raise InputFileNotFound(f"no input file {file_id}")
    return StoredInput.of(row)


async def get_input_file(rt: Runtime, owner: Principal, file_id: uuid.UUID) -> InputFile:
    """The caller's input file (another buyer's is ``InputFileNotFound``)."""
    stored = await rt.database.run(_owned_file, owner, file_id)
    return stored.to_wire()


def _delete_unused(connection: sa.Connection, owner: Principal, file_id: uuid.UUID) -> str:
    stored = _owned_file(connection, owner, file_id)
    deleted = connection.execute(
        input_files.delete().where(
            input_files.c.id == file_id, input_files.c.expires_at.is_not(None)
        )
    ).rowcount
    if not deleted:
        raise InputFileInUse(f"input file {file_id} is an input of a job; it lives as the job does")
    return stored.storage_key


async def delete_input_file(rt: Runtime, owner: Principal, file_id: uuid.UUID) -> None:
    """Delete the caller's input file that no job uses (``InputFileInUse`` otherwise)."""
    key = await rt.database.write(_delete_unused, owner, file_id)
    await rt.storage.delete(key)


async def delete_input_files(rt: Runtime, owner: Principal, file_ids: list[uuid.UUID]) -> None:
    """Delete files uploaded for an order that was refused (quietly: they may be gone)."""
    with anyio.CancelScope(shield=True):
        for file_id in file_ids:
            try:
                await delete_input_file(rt, owner, file_id)
            except (InputFileNotFound, InputFileInUse):
                continue


def _order_files(
    connection: sa.Connection, buyer: Principal, refs: list[InputRef]
) -> list[StoredInput]:
    """The buyer's live files that ``refs`` name, in order; ``InputFileNotFound`` for any other."""
    wanted = {ref.file_id for ref in refs}
    rows = connection.execute(
        sa.select(input_files).where(
            input_files.c.id.in_(wanted), input_files.c.owner_id == buyer.id
        )
    ).all()
    found = {row.id: StoredInput.of(row) for row in rows}
    now = utc_now()
    for ref in refs:
        stored = found.get(ref.file_id)
        if stored is None or (stored.expires_at is not None and stored.expires_at <= now):
            raise InputFileNotFound(
                f"no input file {ref.file_id}",
                errors=[FieldError(loc="inputs", message=f"unknown file {ref.file_id}")],
            )
    return [found[ref.file_id] for ref in refs]


async def check_order(
    rt: Runtime, buyer: Principal, body: JobCreate, rule_json: dict[str, Any] | None
) -> None:
    """Refuse an order whose inputs are unknown, too many, too large, or that the agent's
    ``input_files`` rule (as stored, ``rule_json``) does not take, before anything is written.

    An order without inputs costs no database read.
    """
    rule = None if rule_json is None else InputFilesRule.model_validate(rule_json)
    if not body.inputs:
        check_rule(rule, [])
        return
    if len(body.inputs) > rt.settings.max_input_files:
        raise TooManyInputFiles(
            f"an order carries at most {rt.settings.max_input_files} input files; "
            f"this one has {len(body.inputs)}",
            errors=[
                FieldError(loc="inputs", message=f"more than {rt.settings.max_input_files} files")
            ],
        )
    await rt.database.run(
        _check_order_files, buyer, body.inputs, rule, max_bytes=rt.settings.max_input_bytes
    )


def _check_order_files(
    connection: sa.Connection,
    buyer: Principal,
    refs: list[InputRef],
    rule: InputFilesRule | None,
    *,
    max_bytes: int,
) -> None:
    files = _order_files(connection, buyer, refs)
    names = ResultNames()
    for ref, stored in zip(refs, files, strict=True):
        name = ref.name or stored.name
        try:
            names.add(name)
        except ValueError as exc:
            raise ValidationFailed(
                str(exc), errors=[FieldError(loc="inputs", message=str(exc))]
            ) from exc
    total = sum(stored.size for stored in files)
    if total > max_bytes:
        raise InputTooLarge(
            f"the order's input files hold {total} bytes; at most {max_bytes} are allowed",
            errors=[FieldError(loc="inputs", message=f"more than {max_bytes} bytes")],
        )
    check_rule(rule, [stored.media_type for stored in files])


def agent_rule(connection: sa.Connection, agent_id: str) -> InputFilesRule | None:
    """The agent's ``input_files`` rule (``AgentNotFound`` if there is no such agent)."""
    row = connection.execute(
        sa.select(agents.c.input_files).where(agents.c.id == agent_id)
    ).one_or_none()
    if row is None:
        raise AgentNotFound(f"no agent {agent_id}")
    return None if row.input_files is None else InputFilesRule.model_validate(row.input_files)


def check_rule(rule: InputFilesRule | None, media_types: list[str]) -> None:
    """``InputFilesNotAccepted`` unless files of ``media_types`` satisfy the agent's rule."""
    if rule is None:
        return
    problem = rule.problem(media_types)
    if problem is not None:
        raise InputFilesNotAccepted(problem, errors=[FieldError(loc="inputs", message=problem)])


def attach_inputs(
    connection: sa.Connection,
    buyer: Principal,
    job_id: uuid.UUID,
    refs: list[InputRef],
    now: datetime,
) -> None:
    """Make the named files the job's inputs, in the order's write transaction.

    Each file stops expiring; a file that expired or was deleted since the order was
    checked is ``InputFileNotFound`` (and the whole order rolls back).
    """
    if not refs:
        return
    files = _order_files(connection, buyer, refs)
    for position, (ref, stored) in enumerate(zip(refs, files, strict=True)):
        taken = connection.execute(
            input_files.update()
            .where(
                input_files.c.id == stored.id,
                sa.or_(input_files.c.expires_at.is_(None), input_files.c.expires_at > now),
            )
            .values(expires_at=None)
        ).rowcount
        if not taken:
            raise InputFileNotFound(f"no input file {stored.id}")
        connection.execute(
            job_inputs.insert().values(
                job_id=job_id, name=ref.name or stored.name, file_id=stored.id, position=position
            )
        )


def _job_inputs(
    connection: sa.Connection, scope: sa.ColumnElement[bool], job_id: uuid.UUID
) -> list[tuple[str, StoredInput]]:
    visible = connection.execute(
        sa.select(jobs.c.id).where(jobs.c.id == job_id, scope)
    ).one_or_none()
    if visible is None:
        raise JobNotFound(f"no job {job_id}")
    rows = connection.execute(
        sa.select(job_inputs.c.name.label("input_name"), input_files)
        .join(input_files, input_files.c.id == job_inputs.c.file_id)
        .where(job_inputs.c.job_id == job_id)
        .order_by(job_inputs.c.position)
    ).all()
    return [(row.input_name, StoredInput.of(row)) for row in rows]


def _held_by(executor: Principal) -> sa.ColumnElement[bool]:
    """Jobs the executor holds now: its agents' jobs that are accepted or running."""
    return sa.and_(executor_scope(executor), jobs.c.status.in_([status.value for status in LEASED]))


def input_scope(caller: Principal, *, as_executor: bool) -> sa.ColumnElement[bool]:
    """Whose job inputs ``caller`` may read: a buyer its jobs', an executor the held jobs'."""
    return _held_by(caller) if as_executor else buyer_scope(caller)


async def list_job_inputs(
    rt: Runtime, caller: Principal, job_id: uuid.UUID, *, as_executor: bool, base_url: str
) -> JobInputs:
    """The job's inputs, each with a download URL (presigned on S3, the API's route else)."""
    found = await rt.database.run(_job_inputs, input_scope(caller, as_executor=as_executor), job_id)
    base = rt.settings.public_url or base_url.rstrip("/")
    route = "executor/jobs" if as_executor else "jobs"
    listed = []
    for name, stored in found:
        url = await rt.storage.presigned_url(
            stored.storage_key,
            filename=name,
            content_type=stored.media_type,
            expires_in=rt.settings.download_url_seconds,
        )
        if url is None:
            url = f"{base}/v1/{route}/{job_id}/inputs/{quote(name, safe='')}"
        listed.append(
            JobInput(
                name=name,
                size=stored.size,
                sha256=stored.sha256,
                media_type=stored.media_type,
                download_url=url,
            )
        )
    return JobInputs(job_id=job_id, files=listed)


async def job_input(
    rt: Runtime, caller: Principal, job_id: uuid.UUID, name: str, *, as_executor: bool
) -> StoredInput:
    """One input of the job by its name (``InputFileNotFound`` if it has none so named)."""
    found = await rt.database.run(_job_inputs, input_scope(caller, as_executor=as_executor), job_id)
    for input_name, stored in found:
        if input_name == name:
            return stored
    raise InputFileNotFound(f"job {job_id} has no input {name!r}")


def _take_expired(connection: sa.Connection, now: datetime) -> list[str]:
    rows = connection.execute(
        input_files.delete()
        .where(input_files.c.expires_at.is_not(None), input_files.c.expires_at <= now)
        .returning(input_files.c.storage_key)
    )
    return list(rows.scalars())


async def sweep_expired_inputs(rt: Runtime) -> int:
    """Delete input files no job used within their time to live, rows first, then objects.

    The rows go in one transaction (an order attaching a file at the same moment either
    took it first, and it no longer expires, or finds it gone); an object whose delete
    fails is logged and left (storage lifecycle rules are the backstop).
    """
    keys = await rt.database.write(_take_expired, utc_now())
    for key in keys:
        try:
            await rt.storage.delete(key)
        except Exception:
            log.exception("could not delete the object of an expired input file: %s", key)
    if keys:
        log.info("deleted %d expired input file(s)", len(keys))
    return len(keys)
