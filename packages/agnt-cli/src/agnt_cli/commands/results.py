"""``agnt result``: download a completed job's files, verified, into a directory."""

from pathlib import Path
from typing import Annotated

import typer

from agnt_cli.commands.inputs import check_job_id, check_wait_timeout
from agnt_cli.commands.jobs import JobIdArgument, TimeoutOption, WaitOption
from agnt_cli.connection import open_client
from agnt_cli.following import follow_job, require_completed
from agnt_cli.output import print_document
from agnt_cli.progress import activity


def result(
    ctx: typer.Context,
    job_id: JobIdArgument,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            metavar="DIR",
            help="Where to put the files (default ./<job-id>/).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing files that differ.")
    ] = False,
    wait: WaitOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Download every result file (streamed, sha256-verified); prints paths, sizes, hashes.

    An existing file with the same content is kept; one with other content is an error
    (exit 5) unless --overwrite.
    """
    job_id = check_job_id(job_id)
    check_wait_timeout(wait, timeout)
    destination = (output_dir if output_dir is not None else Path(job_id)).absolute()
    with open_client(ctx) as client:
        if wait:
            require_completed(follow_job(client, job_id, timeout=timeout))
        with activity(f"downloading the result of job {job_id}"):
            files = client.download_result(job_id, destination, overwrite=overwrite)
    print_document(
        {
            "job_id": job_id,
            "output_dir": str(destination),
            "files": [
                {"name": f.name, "path": str(f.path), "size": f.size, "sha256": f.sha256}
                for f in files
            ],
        }
    )
