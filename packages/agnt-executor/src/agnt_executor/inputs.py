"""A job's input files, fetched into its input directory before the handler runs.

The executor holds the job (it claimed it), so it may read the inputs through the
executor route; each file is streamed to disk and checked against its size and sha256
(``agnt_client``'s verified download, all or nothing). A file that fails the check, or
inputs that cannot be fetched at all, fail the job with a reason that says which.
"""

from __future__ import annotations

from pathlib import Path

from agnt_client import (
    AgntError,
    AsyncClient,
    ChecksumMismatchError,
    ConflictError,
    NotFoundError,
)

INPUT_DIR_NAME = "input"
"""The job's input directory inside its work directory (``$AGNT_INPUT_DIR``)."""


class InputsUnavailable(Exception):
    """The job's input files could not be fetched intact; the message is the failure reason."""


class InputsGone(Exception):
    """The API no longer lets this executor read the job (canceled, lease lost)."""


async def fetch_inputs(
    client: AsyncClient, job_id: str, input_dir: Path, *, attempt: int | None = None
) -> list[Path]:
    """Download every input of the job into ``input_dir`` (created, even with no inputs);
    their paths in order. With ``attempt``, a run that lost the job gets ``InputsGone``."""
    try:
        files = await client.download_inputs(job_id, input_dir, as_executor=True, attempt=attempt)
    except ChecksumMismatchError as exc:
        raise InputsUnavailable(
            f"input file {exc.name!r} failed its integrity check (size or sha256 differ "
            f"from what the buyer uploaded): {exc}"
        ) from exc
    except ConflictError as exc:
        if exc.code == "stale_attempt":
            raise InputsGone(f"{exc.code}: {exc.detail}") from exc
        raise InputsUnavailable(f"the job's input files could not be fetched: {exc}") from exc
    except NotFoundError as exc:
        if exc.code == "job_not_found":
            raise InputsGone(f"{exc.code}: {exc.detail}") from exc
        raise InputsUnavailable(f"the job's input files could not be fetched: {exc}") from exc
    except (AgntError, OSError) as exc:
        raise InputsUnavailable(f"the job's input files could not be fetched: {exc}") from exc
    return [file.path for file in files]
