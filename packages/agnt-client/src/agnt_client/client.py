"""``Client``: the synchronous agnt API client, a thin sender of ``endpoints`` calls."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import JsonValue

from agnt_client import endpoints
from agnt_client.downloads import DownloadedFile, PartialDownload, ResultDownload
from agnt_client.endpoints import ApiCall, JobId
from agnt_client.errors import AgntError, APIStatusError, WaitTimeoutError
from agnt_client.inputs import InputSource, as_result_file, upload_sources
from agnt_client.options import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientOptions,
    TimeoutTypes,
)
from agnt_client.pagination import iterate_pages
from agnt_client.retries import RetryPolicy, RetryState
from agnt_client.sse import EventStreamResume, SSEDecoder, is_event_stream
from agnt_client.unchanged import UNCHANGED, Unchanged, given
from agnt_client.uploads import UploadSource
from agnt_client.waiting import (
    JobWait,
    job_after,
    prefer_wait_for,
    run_outcome,
    stream_unsupported,
    time_left,
    timed_out_by,
)
from agnt_models import (
    TERMINAL,
    Agent,
    AgentPublish,
    AgentSearchPage,
    AgentStats,
    AgentSummary,
    Health,
    InputFile,
    InputRef,
    Job,
    JobEvent,
    JobEventPage,
    JobInputs,
    JobPage,
    JobResult,
    JobStatus,
    LogBatchAccepted,
    LogLine,
    PricingModel,
    ResultFile,
    SearchSort,
    WatchedJobs,
    WebhookTarget,
)

T = TypeVar("T")


class Client:
    """Synchronous client of the agnt API, for buyers and executors.

    ``base_url`` and ``api_key`` default to ``AGNT_API_URL`` and ``AGNT_API_KEY``.
    Transient failures are retried ``max_retries`` times, and at most ``retry_deadline``
    seconds after a call began when that is set (see ``agnt_client.retries``); a caller
    that must ride out an API restart passes ``max_retries=None`` and a deadline.
    Pass ``http_client`` to use your own ``httpx.Client`` (it is not closed by ``close()``),
    or ``transport`` to send through another transport. Use it as a context manager, or
    call ``close()``.
    """

    def __init__(
        self,
        base_url: str | httpx.URL | None = None,
        api_key: str | None = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int | None = DEFAULT_MAX_RETRIES,
        retry_deadline: float | None = None,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        options = ClientOptions.resolve(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            retry_deadline=retry_deadline,
        )
        self._setup(options, http_client, transport, owns_http=http_client is None)

    def _setup(
        self,
        options: ClientOptions,
        http_client: httpx.Client | None,
        transport: httpx.BaseTransport | None,
        *,
        owns_http: bool,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        self._options = options
        self._owns_http = owns_http
        self._http = http_client or httpx.Client(transport=transport, timeout=options.timeout)

    @property
    def options(self) -> ClientOptions:
        """The resolved settings: base URL, key, timeout, retries, extra headers."""
        return self._options

    def with_options(
        self,
        *,
        base_url: str | httpx.URL | Unchanged = UNCHANGED,
        api_key: str | None | Unchanged = UNCHANGED,
        timeout: TimeoutTypes | Unchanged = UNCHANGED,
        max_retries: int | None | Unchanged = UNCHANGED,
        retry_deadline: float | None | Unchanged = UNCHANGED,
        http_client: httpx.Client | Unchanged = UNCHANGED,
        transport: httpx.BaseTransport | Unchanged = UNCHANGED,
        headers: Mapping[str, str] | Unchanged = UNCHANGED,
    ) -> Client:
        """A copy with some settings replaced; it shares this client's connection pool
        unless given its own ``http_client`` or ``transport``."""
        changes = given(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            retry_deadline=retry_deadline,
            headers=headers,
        )
        copy = Client.__new__(Client)
        new_http = None if isinstance(http_client, Unchanged) else http_client
        new_transport = None if isinstance(transport, Unchanged) else transport
        if new_http is None and new_transport is None:
            copy._setup(self._options.copy_with(changes), self._http, None, owns_http=False)
        else:
            copy._setup(
                self._options.copy_with(changes),
                new_http,
                new_transport,
                owns_http=new_http is None,
            )
        return copy

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: ApiCall[T], policy: RetryPolicy | None = None) -> T:
        retry = RetryState(policy or self._options.retry_policy, idempotent=call.idempotent)
        while True:
            args = self._options.request_args(call)
            if call.upload is not None:
                args["content"] = call.upload.iter_chunks()
            request = self._http.build_request(**args)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = retry.wait_after_error(exc)
            else:
                if call.accepts(response):
                    return call.parse(response)
                delay = retry.wait_after_response(response)
            time.sleep(delay)

    def _download_file(self, partial: PartialDownload, download_url: str) -> None:
        # A broken body is retried like any idempotent GET; the retry asks only for the
        # missing bytes (Range + If-Range) and appends them when the server agrees.
        retry = RetryState(self._options.retry_policy, idempotent=True)
        while True:
            args = self._options.download_request_args(download_url)
            args["headers"].update(partial.resume_headers())
            request = self._http.build_request(**args)
            try:
                response = self._http.send(request, stream=True, follow_redirects=True)
                try:
                    if response.is_success:
                        partial.begin(response.status_code, response.headers)
                        for chunk in response.iter_bytes():
                            partial.write(chunk)
                        return
                    response.read()
                finally:
                    response.close()
            except httpx.TransportError as exc:
                delay = retry.wait_after_error(exc)
            else:
                delay = retry.wait_after_response(response)
            time.sleep(delay)

    def health(self) -> Health:
        """``GET /healthz``: whether the API process is up."""
        return self._send(endpoints.health())

    def ready(self) -> Health:
        """``GET /readyz``: whether the API reaches its database and storage (see ``checks``)."""
        return self._send(endpoints.ready())

    def search_agents(
        self,
        query: str = "",
        *,
        tag: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        sort: SearchSort | None = None,
        pricing: PricingModel | None = None,
        facets: bool = False,
        online: bool = False,
    ) -> AgentSearchPage:
        """One page of agents matching ``query`` (and ``tag``, ``pricing``), in ``sort`` order
        (relevance by default); ``facets``: the first page counts tags over all matches;
        ``online``: only agents an executor serves now."""
        call = endpoints.search_agents(
            query,
            tag=tag,
            limit=limit,
            cursor=cursor,
            sort=sort,
            pricing=pricing,
            facets=facets,
            online=online,
        )
        return self._send(call)

    def iter_agents(
        self, query: str = "", *, tag: str | None = None, page_size: int | None = None
    ) -> Iterator[AgentSummary]:
        """Every agent matching ``query``, fetching pages lazily as you iterate."""
        return iterate_pages(
            lambda cursor: self.search_agents(query, tag=tag, limit=page_size, cursor=cursor)
        )

    def get_agent(self, agent_id: str) -> Agent:
        """An agent in full: pricing, input and output schemas."""
        return self._send(endpoints.get_agent(agent_id))

    def agent_stats(self, agent_id: str) -> AgentStats:
        """Counts of an agent's jobs by outcome, success rate and average duration."""
        return self._send(endpoints.agent_stats(agent_id))

    def create_job(
        self,
        agent_id: str,
        prompt: str,
        params: Mapping[str, JsonValue] | None = None,
        *,
        idempotency_key: str | None = None,
        webhook: WebhookTarget | None = None,
        prefer_wait: float | None = None,
        timeout_seconds: float | None = None,
        files: Sequence[InputSource] = (),
        inputs: Sequence[InputRef] = (),
    ) -> Job:
        """Order a job. Safe to retry: without ``idempotency_key`` one is generated per call.

        ``webhook`` has the job's events delivered to a URL; ``prefer_wait`` (seconds, at
        most 60) asks the API to answer only when the job ended or that time passed;
        ``timeout_seconds`` ends the job that long after the order (``deadline_exceeded``).
        ``files`` are uploaded first (``upload_file``) and become the job's inputs after
        ``inputs`` (files uploaded before, by id).
        """
        refs = [*inputs]
        for source in files:
            uploaded = self.upload_file(source)
            refs.append(InputRef(file_id=uploaded.id))
        return self._send(
            endpoints.create_job(
                agent_id,
                prompt,
                params,
                idempotency_key=idempotency_key,
                webhook=webhook,
                prefer_wait=prefer_wait,
                timeout_seconds=timeout_seconds,
                inputs=refs,
            )
        )

    def upload_file(self, source: InputSource) -> InputFile:
        """Upload one input file (streamed; bytes and file objects spooled first).

        A path is sent under its own name; ``(name, path | bytes | file object)`` under
        ``name``. Orders use it by id (``inputs=``) until it expires, a day after upload
        when no job uses it.
        """
        with upload_sources([source]) as [ready]:
            return self._send(endpoints.upload_file(ready))

    def get_file(self, file_id: JobId) -> InputFile:
        """An input file you uploaded: name, size, sha256, media type, expiry."""
        return self._send(endpoints.get_file(file_id))

    def delete_file(self, file_id: JobId) -> None:
        """Delete an input file no job uses."""
        self._send(endpoints.delete_file(file_id))

    def job_inputs(
        self, job_id: JobId, *, as_executor: bool = False, attempt: int | None = None
    ) -> JobInputs:
        """A job's input files with download URLs (``as_executor``: the executor's route;
        ``attempt``: a run that lost the job gets 409 ``stale_attempt``)."""
        return self._send(endpoints.job_inputs(job_id, as_executor=as_executor, attempt=attempt))

    def download_inputs(
        self,
        job_id: JobId,
        dest_dir: str | PathLike[str],
        *,
        as_executor: bool = False,
        overwrite: bool = False,
        attempt: int | None = None,
    ) -> list[DownloadedFile]:
        """Download a job's input files into ``dest_dir``: verified (size, sha256), all or
        nothing, like ``download_result``; ``ChecksumMismatchError`` on a corrupt file.
        ``attempt`` fences the listing (409 ``stale_attempt`` for a run that lost the job)."""
        listed = self.job_inputs(job_id, as_executor=as_executor, attempt=attempt)
        entries = [as_result_file(entry) for entry in listed.files]
        plan = ResultDownload(entries, Path(dest_dir), overwrite=overwrite)
        try:
            for entry, path in plan.todo:
                partial = plan.start(entry, path)
                self._download_file(partial, entry.download_url)
                plan.verify(partial)
            return plan.commit()
        finally:
            plan.discard()

    def run(
        self,
        agent_id: str,
        prompt: str,
        params: Mapping[str, JsonValue] | None = None,
        *,
        timeout: float | None = None,
        webhook: WebhookTarget | None = None,
        idempotency_key: str | None = None,
        timeout_seconds: float | None = None,
        files: Sequence[InputSource] = (),
    ) -> Job:
        """Order a job and wait for its end: the completed job, or ``JobFailedError``.

        The order holds for up to 60 s (``Prefer: wait``), then the job's event stream is
        followed. Raises ``WaitTimeoutError`` (with the last state) after ``timeout`` s.
        """
        started = time.monotonic()
        job = self.create_job(
            agent_id,
            prompt,
            params,
            idempotency_key=idempotency_key,
            webhook=webhook,
            prefer_wait=prefer_wait_for(timeout),
            timeout_seconds=timeout_seconds,
            files=files,
        )
        job = self._wait_from(job, timeout, None, started)
        return run_outcome(job)

    def events(
        self, job_id: JobId, *, after: int | None = None, wait: float | None = None
    ) -> JobEventPage:
        """A job's events after ``after`` as one JSON page; ``wait`` long-polls for new ones."""
        return self._send(endpoints.job_events(job_id, after=after, wait=wait))

    def stream_events(self, job_id: JobId, *, after: int | None = None) -> Iterator[JobEvent]:
        """A job's events as they happen (SSE), ending after the terminal one.

        Reconnects by itself after a network error or a cut stream, resuming with
        ``Last-Event-ID``: no event is yielded twice or skipped.
        """
        return self._follow_events(job_id, after, None)

    def _follow_events(
        self, job_id: JobId, after: int | None, timeout: float | None
    ) -> Iterator[JobEvent]:
        resume = EventStreamResume(self._options.retry_policy, after, timeout=timeout)
        while not resume.done and not resume.timed_out:
            args = self._options.request_args(resume.call(job_id))
            args["timeout"] = resume.timeout(args["timeout"])
            request = self._http.build_request(**args)
            try:
                response = self._http.send(request, stream=True)
                try:
                    if not is_event_stream(response):
                        response.read()
                        delay = resume.wait_after_response(response)
                    else:
                        decoder = SSEDecoder()
                        for text in response.iter_text():
                            for message in decoder.feed(text):
                                if (event := resume.accept(message)) is not None:
                                    yield event
                            if resume.done or resume.timed_out:
                                return
                        delay = resume.wait_after_cut(request)
                finally:
                    response.close()
            except httpx.TransportError as exc:
                if resume.timed_out:
                    return
                delay = resume.wait_after_error(exc)
            time.sleep(delay)

    def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of your jobs, newest first."""
        return self._send(
            endpoints.list_jobs(status=status, agent_id=agent_id, limit=limit, cursor=cursor)
        )

    def iter_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        agent_id: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Job]:
        """Every one of your jobs, newest first, fetching pages lazily as you iterate."""
        return iterate_pages(
            lambda cursor: self.list_jobs(
                status=status, agent_id=agent_id, limit=page_size, cursor=cursor
            )
        )

    def get_job(self, job_id: JobId, *, wait: float | None = None) -> Job:
        """A job; with ``wait`` (seconds, at most 60) the API answers when the job changes."""
        return self._send(endpoints.get_job(job_id, wait=wait))

    def follow_job(self, job_id: JobId, *, timeout: float | None = None) -> Iterator[Job]:
        """Each state of a job as server long-polls see it, ending with a terminal one.

        Rides out an API restart: a long-poll that meets a connection error or a 5xx is
        retried until ``timeout`` (or for ``waiting.OUTAGE_SECONDS`` without one). Raises
        ``WaitTimeoutError`` (with the last job seen) after ``timeout`` seconds.
        """
        follow = JobWait(timeout)
        job: Job | None = None
        wait: float | None = None
        while True:
            policy = follow.retry_policy(self._options.retry_policy, wait)
            try:
                job = self._send(endpoints.get_job(job_id, wait=wait), policy)
            except AgntError as exc:
                timed_out = follow.timed_out(exc, job)
                if timed_out is None:
                    raise
                raise timed_out from exc
            yield job
            if (wait := follow.next_wait(job)) is None:
                return

    def wait_for_job(
        self,
        job_id: JobId,
        *,
        timeout: float | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
    ) -> Job:
        """Wait until a job is terminal and return that state.

        Follows the job's event stream, handing each event to ``on_event`` (a progress
        display); an API without the stream is long-polled (``follow_job``), without events.
        Raises ``WaitTimeoutError`` (with the last job seen) after ``timeout`` seconds.
        """
        started = time.monotonic()
        job = self.get_job(job_id)
        return self._wait_from(job, timeout, on_event, started)

    def _wait_from(
        self,
        job: Job,
        timeout: float | None,
        on_event: Callable[[JobEvent], None] | None,
        started: float,
    ) -> Job:
        if job.status in TERMINAL:
            return job
        try:
            for event in self._follow_events(job.id, None, time_left(timeout, started)):
                job = job_after(job, event)
                if on_event is not None:
                    on_event(event)
            final = self.get_job(job.id)
        except AgntError as exc:
            if isinstance(exc, APIStatusError) and stream_unsupported(exc):
                return self._long_poll_job(job, time_left(timeout, started))
            timed_out = timed_out_by(exc, job, timeout)
            if timed_out is None:
                raise
            raise timed_out from exc
        if final.status not in TERMINAL:
            raise WaitTimeoutError(final, timeout or 0.0)
        return final

    def _long_poll_job(self, job: Job, timeout: float | None) -> Job:
        job_id = job.id
        try:
            for job in self.follow_job(job_id, timeout=timeout):  # noqa: B007 - the last state
                pass
        except AgntError as exc:
            timed_out = timed_out_by(exc, job, timeout)
            if timed_out is None:
                raise
            raise timed_out from exc
        return job

    def get_result(self, job_id: JobId) -> JobResult:
        """The result of a completed job: each file's name, size, sha256 and download URL."""
        return self._send(endpoints.get_result(job_id))

    def download_result(
        self, job_id: JobId, dest_dir: str | PathLike[str], *, overwrite: bool = False
    ) -> list[DownloadedFile]:
        """Download every result file into ``dest_dir``, verified, all or nothing.

        Each file streams to a temp file and is checked against its size and sha256; only
        when all are right are they renamed into place. A file already there with the same
        content is kept; a different one raises ``FileConflictError`` unless ``overwrite``.
        """
        result = self.get_result(job_id)
        plan = ResultDownload(result.files, Path(dest_dir), overwrite=overwrite)
        try:
            for entry, path in plan.todo:
                partial = plan.start(entry, path)
                self._download_file(partial, entry.download_url)
                plan.verify(partial)
            return plan.commit()
        finally:
            plan.discard()

    def read_result_file(self, file: ResultFile) -> bytes:
        """One result file (an entry of ``get_result``) in memory, checked against its size
        and sha256 like ``download_result``; meant for small files (the MCP server inlines
        small text results)."""
        with tempfile.TemporaryDirectory(prefix="agnt-") as directory:
            partial = PartialDownload(file, Path(directory) / "file")
            try:
                self._download_file(partial, file.download_url)
                partial.finish()
                return partial.temp_path.read_bytes()
            finally:
                partial.discard()

    def cancel_job(self, job_id: JobId) -> Job:
        """Cancel a job that is not terminal yet (409 ``invalid_transition`` otherwise)."""
        return self._send(endpoints.cancel_job(job_id))

    def claim_jobs(
        self,
        *,
        max: int = 1,
        agent_ids: Sequence[str] | None = None,
        job_ids: Sequence[JobId] | None = None,
        wait: float | None = None,
    ) -> list[Job]:
        """Take up to ``max`` pending jobs of your agents at once; they come back ``accepted``.

        ``agent_ids`` limits the claim to the agents you serve, ``job_ids`` to those jobs;
        with ``wait`` (seconds) the API answers as soon as one job was claimed.
        """
        return self._send(
            endpoints.claim_jobs(max=max, agent_ids=agent_ids, job_ids=job_ids, wait=wait)
        )

    def watch_jobs(self, job_ids: Sequence[JobId], *, wait: float | None = None) -> WatchedJobs:
        """Of the jobs you hold, those you no longer hold (canceled, lease lost, ended).

        With ``wait`` the API answers as soon as one of them changes that way.
        """
        return self._send(endpoints.watch_jobs(job_ids, wait=wait))

    def list_executor_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of your agents' jobs in ``status`` (default pending), oldest first."""
        return self._send(
            endpoints.list_executor_jobs(
                status=status, agent_id=agent_id, limit=limit, cursor=cursor
            )
        )

    def report_status(
        self,
        job_id: JobId,
        status: JobStatus | str,
        *,
        progress: int | None = None,
        reason: str | None = None,
        attempt: int | None = None,
    ) -> Job:
        """Move a job (accepted, rejected, running, failed) or report progress; renews the lease.

        ``attempt`` (the claimed job's ``attempt``) makes a report for a run that lost the job
        a 409 ``stale_attempt`` instead of touching the job's next run.
        """
        return self._send(
            endpoints.report_status(
                job_id, status, progress=progress, reason=reason, attempt=attempt
            )
        )

    def release_job(
        self, job_id: JobId, *, reason: str | None = None, attempt: int | None = None
    ) -> Job:
        """Give back a job you hold: pending again (``attempt + 1``) for another executor, or
        failed with ``reason`` after its last attempt. Name ``attempt`` to make it repeatable."""
        return self._send(endpoints.release_job(job_id, reason=reason, attempt=attempt))

    def complete_job(
        self,
        job_id: JobId,
        files: Sequence[UploadSource],
        *,
        idempotency_key: str | None = None,
        attempt: int | None = None,
    ) -> Job:
        """Upload the output files (streamed from disk) and mark the job completed.

        Safe to retry: without ``idempotency_key`` one is generated per call, so a
        completion whose answer was lost answers 200 (the job) when the client repeats it.
        ``attempt`` (the claimed job's ``attempt``) makes a completion by a run that lost
        the job a 409 ``stale_attempt``: its files are not kept and the job's next run wins.
        """
        return self._send(
            endpoints.complete_job(job_id, files, idempotency_key=idempotency_key, attempt=attempt)
        )

    def post_logs(
        self, job_id: JobId, lines: Sequence[LogLine], *, attempt: int | None = None
    ) -> LogBatchAccepted:
        """Send handler output lines of a job you hold; they become its ``log`` events.

        With ``attempt``, lines of a run that lost the job are refused (409 stale_attempt)."""
        return self._send(endpoints.post_logs(job_id, lines, attempt=attempt))

    def publish_agent(self, agent_id: str, agent: AgentPublish) -> Agent:
        """Create or update an agent you own."""
        return self._send(endpoints.publish_agent(agent_id, agent))

    def unpublish_agent(self, agent_id: str) -> Agent:
        """Unpublish an agent you own: hidden from search, its pending jobs canceled."""
        return self._send(endpoints.unpublish_agent(agent_id))
