"""Result files: an executor uploads them (streamed to storage), a buyer lists and downloads.

The job turns ``completed`` in the same transaction that records its result, and only
after every file is stored; if anything fails, what was written is deleted and the job
stays as it was.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import sqlalchemy as sa

from agnt_api.auth import Principal
from agnt_api.db.database import NeedsTransaction, folded, notify_payloads
from agnt_api.db.tables import job_results
from agnt_api.errors import (
    FileNotFound,
    InvalidTransition,
    JobNotCompleted,
    JobNotFound,
    PayloadTooLarge,
    StaleAttempt,
    ValidationFailed,
)
from agnt_api.notify import announce, job_topic
from agnt_api.ratelimit import RateAction, RateLimits
from agnt_api.runtime import Runtime
from agnt_api.services.records import as_utc, utc_now
from agnt_api.services.schemas import check_storable
from agnt_api.services.transitions import (
    buyer_scope,
    complete_once,
    executor_job_scope,
    executor_scope,
    load_job,
    move_job,
)
from agnt_api.storage.files import WRITE_BUFFER_BYTES, FileStorage
from agnt_models import FieldError, Job, JobResult, JobStatus, ResultFile, ResultNames

GENERIC_MIME = "application/octet-stream"

_INSERT_RESULT = job_results.insert()
"""Built once, values bound per call: SQLAlchemy keys a kept statement for free."""


@dataclass
class ResultUpload:
    """One uploaded file as it streams in: its name, declared type and bytes."""

    filename: str
    content_type: str | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class StoredResultFile:
    """A result file as recorded: where storage keeps it and what it is."""

    name: str
    key: str
    size: int
    mime: str
    sha256: str

    def to_event(self) -> dict[str, Any]:
        """The file as the ``completed`` event lists it (no storage key)."""
        return {"name": self.name, "size": self.size, "mime": self.mime, "sha256": self.sha256}

    def to_record(self) -> dict[str, Any]:
        """The JSON stored in ``job_results.files``."""
        return {
            "name": self.name,
            "key": self.key,
            "size": self.size,
            "mime": self.mime,
            "sha256": self.sha256,
        }


def _accept_name(names: ResultNames, name: str, max_files: int) -> None:
    """Add one uploaded file's name to the result, or refuse the whole completion."""
    if len(names) >= max_files:
        raise PayloadTooLarge(
            f"a completion carries at most {max_files} result files",
            errors=[FieldError(loc="files", message=f"more than {max_files} files")],
        )
    try:
        names.add(name)
    except ValueError as exc:
        raise ValidationFailed(
            str(exc), errors=[FieldError(loc="files", message=str(exc))]
        ) from exc


def mime_of(name: str, declared: str | None) -> str:
    """The file's media type: what the uploader declared, else guessed from its name."""
    if declared and declared.split(";")[0].strip().lower() != GENERIC_MIME:
        return declared
    guessed, _ = mimetypes.guess_type(name)
    return guessed or GENERIC_MIME


def check_attempt(job: Job, attempt: int | None) -> None:
    """``StaleAttempt`` if the caller names an attempt the job is no longer on.

    Without ``attempt`` (older clients) nothing is checked: the caller's scope decides.
    """
    if attempt is not None and job.attempt != attempt:
        raise StaleAttempt(
            f"job {job.id} is on attempt {job.attempt}; this request is for attempt "
            f"{attempt}, which lost the job"
        )


def _check_held_attempt(
    connection: sa.Connection, executor: Principal, job_id: uuid.UUID, attempt: int
) -> None:
    check_attempt(load_job(connection, job_id, executor_scope(executor)), attempt)


async def check_executor_attempt(
    rt: Runtime, executor: Principal, job_id: uuid.UUID, attempt: int | None
) -> None:
    """``StaleAttempt`` if ``attempt`` is given and the executor's job moved on from it."""
    if attempt is not None:
        await rt.database.run(_check_held_attempt, executor, job_id, attempt)


def _completion_start(
    connection: sa.Connection,
    executor: Principal,
    job_id: uuid.UUID,
    idempotency_key: str | None,
    attempt: int | None,
) -> Job | None:
    """``None`` if the job may be completed now; the job if this completion already happened."""
    job = load_job(connection, job_id, executor_job_scope(executor))
    check_attempt(job, attempt)
    if job.status is JobStatus.RUNNING:
        return None
    repeated = _repeated_completion(connection, job, idempotency_key)
    if repeated is not None:
        return repeated
    raise InvalidTransition(f"job {job_id} is {job.status.value}; it cannot become completed")


def _repeated_completion(
    connection: sa.Connection, job: Job, idempotency_key: str | None
) -> Job | None:
    """The job, if it was completed by a request with this Idempotency-Key."""
    if idempotency_key is None or job.status is not JobStatus.COMPLETED:
        return None
    stored_key = connection.execute(
        sa.select(job_results.c.idempotency_key).where(job_results.c.job_id == job.id)
    ).scalar_one_or_none()
    return job if stored_key == idempotency_key else None


def _record_completion(
    connection: sa.Connection,
    executor: Principal,
    job_id: uuid.UUID,
    files: list[StoredResultFile],
    lease_seconds: float,
    idempotency_key: str | None,
    attempt: int | None,
) -> tuple[Job, bool]:
    """Complete the job with ``files``; ``(job, recorded)``, not recorded for a repeat.

    With ``attempt`` the move is fenced: a job requeued (and perhaps claimed again) while
    the files streamed in is ``StaleAttempt``, and this run's files are not recorded.

    Run by ``Database.write_folded``: on Postgres the move, its event, the result's row
    and the ``NOTIFY`` are first one statement (``complete_once``); anything else (a
    repeat, a refusal, a job with a webhook) runs unfolded.
    """
    scope = executor_job_scope(executor)
    if folded(connection):
        (payload,) = notify_payloads([job_topic(job_id)])
        try:
            once = complete_once(
                connection,
                job_id,
                scope,
                event_data={"files": [f.to_event() for f in files]},
                files=[f.to_record() for f in files],
                idempotency_key=idempotency_key,
                attempt=attempt,
                notify=payload,
            )
        except sa.exc.IntegrityError:
            once = None  # an event committed under us took the seq: redo it unfolded
        if once is None:
            raise NeedsTransaction
        return once, True
    try:
        job = move_job(
            connection,
            job_id,
            JobStatus.COMPLETED,
            scope,
            lease_seconds=lease_seconds,
            event_data={"files": [f.to_event() for f in files]},
            attempt=attempt,
        )
    except (InvalidTransition, JobNotFound):
        current = load_job(connection, job_id, scope)
        check_attempt(current, attempt)
        # A concurrent retry of this same completion may have committed first.
        repeated = _repeated_completion(connection, current, idempotency_key)
        if repeated is None:
            raise
        return repeated, False
    connection.execute(
        _INSERT_RESULT,
        {
            "job_id": job_id,
            "files": [f.to_record() for f in files],
            "created_at": utc_now(),
            "idempotency_key": idempotency_key,
        },
    )
    announce(connection, [job_topic(job.id)])
    return job, True


async def complete_job(
    rt: Runtime,
    executor: Principal,
    job_id: uuid.UUID,
    uploads: AsyncIterable[ResultUpload],
    idempotency_key: str | None = None,
    attempt: int | None = None,
    limits: RateLimits | None = None,
) -> Job:
    """Store every uploaded file, then complete the job and record its result atomically.

    With ``limits``, a completion token is taken first (``RateLimited``), on Postgres in
    the same thread hop as the job's check.

    With an ``idempotency_key``, repeating a completion that already happened (its answer
    was lost) answers the completed job instead of 409, and stores nothing new. With an
    ``attempt``, a completion by a run that lost the job (its lease ended or it was given
    back, so the job moved on to a later attempt) is ``StaleAttempt`` (409), checked
    before any file is read and again when the result is recorded; nothing is kept.
    """
    if idempotency_key is not None:
        try:
            check_storable("Idempotency-Key", idempotency_key)
        except ValidationFailed:
            # The token is taken first either way (a 429 wins over the 422).
            if limits is not None:
                await limits.enforce(RateAction.COMPLETIONS, str(executor.id))
            raise
    if limits is None:
        repeated = await rt.database.run(
            _completion_start, executor, job_id, idempotency_key, attempt
        )
    else:
        repeated = await limits.enforce_then_read(
            RateAction.COMPLETIONS,
            str(executor.id),
            rt.database,
            _completion_start,
            executor,
            job_id,
            idempotency_key,
            attempt,
        )
    if repeated is not None:
        return repeated
    upload_id = uuid.uuid4().hex
    stored: list[StoredResultFile] = []
    names = ResultNames()
    recorded = False
    # A file storage writes one small file in the record's thread hop (most completions
    # carry one): it is held in memory until the parts end, and written the usual way if
    # another part follows. The second part's bytes are read only after it is written.
    direct = rt.storage if isinstance(rt.storage, FileStorage) else None
    held: tuple[StoredResultFile, bytes] | None = None
    try:
        async for upload in uploads:
            # Checked before the part's bytes are read: past the cap, reading stops here.
            _accept_name(names, upload.filename, rt.settings.max_result_files)
            if held is not None:
                stored.append(await _save_held(rt, *held))
                held = None
            mime = mime_of(upload.filename, upload.content_type)
            # The upload segment keeps a retried upload from colliding with a failed one.
            key = f"jobs/{job_id}/{upload_id}/{upload.filename}"
            chunks: AsyncIterator[bytes] = upload.chunks
            if direct is not None and not stored:
                data, rest = await _read_small(upload.chunks, WRITE_BUFFER_BYTES)
                if rest is None:
                    sha256 = hashlib.sha256(data).hexdigest()
                    held = StoredResultFile(upload.filename, key, len(data), mime, sha256), data
                    continue
                chunks = _prepended(data, rest)
            saved = await rt.storage.save(key, chunks, content_type=mime)
            stored.append(StoredResultFile(upload.filename, key, saved.size, mime, saved.sha256))
        if not stored and held is None:
            raise ValidationFailed(
                "send at least one file in a multipart part named 'files'",
                errors=[FieldError(loc="files", message="no files")],
            )
        if held is not None and direct is not None:
            one, data = held
            stored.append(one)  # deleted below unless recorded (written or not)
            job, recorded = await rt.database.write_folded_after(
                functools.partial(direct.save_bytes, one.key, data),
                _record_completion,
                executor,
                job_id,
                stored,
                rt.settings.lease_seconds,
                idempotency_key,
                attempt,
            )
        else:
            job, recorded = await rt.database.write_folded(
                _record_completion,
                executor,
                job_id,
                stored,
                rt.settings.lease_seconds,
                idempotency_key,
                attempt,
            )
    finally:
        if not recorded:
            # Failed, or a repeat that another request recorded: keep no orphan files.
            with anyio.CancelScope(shield=True):
                for done in stored:
                    await rt.storage.delete(done.key)
    return job


async def _read_small(
    chunks: AsyncIterator[bytes], limit: int
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """The part's bytes and ``None`` if they end within ``limit``; else those read so far
    and the rest of ``chunks``."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) > limit:
            return bytes(buffer), chunks
    return bytes(buffer), None


async def _prepended(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _save_held(rt: Runtime, held: StoredResultFile, data: bytes) -> StoredResultFile:
    """The held small file, written on its own (another part followed it)."""
    await rt.storage.save(held.key, _one_chunk(data), content_type=held.mime)
    return held


def _result_files(
    connection: sa.Connection, buyer: Principal, job_id: uuid.UUID
) -> tuple[Job, list[StoredResultFile], Any]:
    job = load_job(connection, job_id, buyer_scope(buyer))
    row = connection.execute(
        sa.select(job_results).where(job_results.c.job_id == job_id)
    ).one_or_none()
    if job.status is not JobStatus.COMPLETED or row is None:
        raise JobNotCompleted(f"job {job_id} is {job.status.value}; its result is not ready")
    files = [StoredResultFile(**record) for record in row.files]
    return job, files, row.created_at


async def job_result(
    rt: Runtime, buyer: Principal, job_id: uuid.UUID, *, base_url: str
) -> JobResult:
    """The files of the buyer's completed job, each with an absolute download URL."""
    _, files, created_at = await rt.database.run(_result_files, buyer, job_id)
    base = rt.settings.public_url or base_url.rstrip("/")
    listed = []
    for stored in files:
        url = await rt.storage.presigned_url(
            stored.key,
            filename=stored.name,
            content_type=stored.mime,
            expires_in=rt.settings.download_url_seconds,
        )
        if url is None:
            url = f"{base}/v1/jobs/{job_id}/files/{quote(stored.name, safe='')}"
        listed.append(
            ResultFile(
                name=stored.name,
                size=stored.size,
                mime=stored.mime,
                sha256=stored.sha256,
                download_url=url,
            )
        )
    return JobResult(job_id=job_id, files=listed, created_at=as_utc(created_at))


async def result_file(
    rt: Runtime, buyer: Principal, job_id: uuid.UUID, name: str
) -> StoredResultFile:
    """One result file of the buyer's completed job (``FileNotFound`` if it has none by that name)."""
    _, files, _ = await rt.database.run(_result_files, buyer, job_id)
    for stored in files:
        if stored.name == name:
            return stored
    raise FileNotFound(f"job {job_id} has no result file {name!r}")
