"""``AsyncClient``: the asyncio agnt API client, a thin sender of ``endpoints`` calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import JsonValue

from agnt_client import endpoints
from agnt_client.downloads import DownloadedFile, PartialDownload, ResultDownload
from agnt_client.endpoints import ApiCall, JobId
from agnt_client.options import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientOptions,
    TimeoutTypes,
)
from agnt_client.pagination import aiterate_pages
from agnt_client.retries import RetryState
from agnt_client.unchanged import UNCHANGED, Unchanged, given
from agnt_client.uploads import UploadSource
from agnt_client.waiting import JobWait
from agnt_models import (
    Agent,
    AgentPublish,
    AgentSearchPage,
    AgentStats,
    AgentSummary,
    Health,
    Job,
    JobPage,
    JobResult,
    JobStatus,
    PricingModel,
    SearchSort,
)

T = TypeVar("T")


class AsyncClient:
    """Asynchronous (asyncio) client of the agnt API: ``Client``'s methods, awaitable.

    ``base_url`` and ``api_key`` default to ``AGNT_API_URL`` and ``AGNT_API_KEY``.
    Transient failures are retried ``max_retries`` times (see ``agnt_client.retries``).
    Pass ``http_client`` to use your own ``httpx.AsyncClient`` (it is not closed by ``close()``),
    or ``transport`` to send through another transport. Use it as an async context manager,
    or await ``close()``.
    """

    def __init__(
        self,
        base_url: str | httpx.URL | None = None,
        api_key: str | None = None,
        *,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        options = ClientOptions.resolve(
            base_url, api_key, timeout=timeout, max_retries=max_retries, headers=headers
        )
        self._setup(options, http_client, transport, owns_http=http_client is None)

    def _setup(
        self,
        options: ClientOptions,
        http_client: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | None,
        *,
        owns_http: bool,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValueError("pass http_client or transport, not both")
        self._options = options
        self._owns_http = owns_http
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=options.timeout)

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
        max_retries: int | Unchanged = UNCHANGED,
        http_client: httpx.AsyncClient | Unchanged = UNCHANGED,
        transport: httpx.AsyncBaseTransport | Unchanged = UNCHANGED,
        headers: Mapping[str, str] | Unchanged = UNCHANGED,
    ) -> AsyncClient:
        """A copy with some settings replaced; it shares this client's connection pool
        unless given its own ``http_client`` or ``transport``."""
        changes = given(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        copy = AsyncClient.__new__(AsyncClient)
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

    async def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send(self, call: ApiCall[T]) -> T:
        retry = RetryState(self._options.retry_policy, idempotent=call.idempotent)
        while True:
            args = self._options.request_args(call)
            if call.upload is not None:
                args["content"] = call.upload.aiter_chunks()
            request = self._http.build_request(**args)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                delay = retry.wait_after_error(exc)
            else:
                if call.accepts(response):
                    return call.parse(response)
                delay = retry.wait_after_response(response)
            await asyncio.sleep(delay)

    async def _download_file(self, partial: PartialDownload, download_url: str) -> None:
        # A broken body is retried like any idempotent GET; the retry asks only for the
        # missing bytes (Range + If-Range) and appends them when the server agrees.
        retry = RetryState(self._options.retry_policy, idempotent=True)
        while True:
            args = self._options.download_request_args(download_url)
            args["headers"].update(partial.resume_headers())
            request = self._http.build_request(**args)
            try:
                response = await self._http.send(request, stream=True, follow_redirects=True)
                try:
                    if response.is_success:
                        partial.begin(response.status_code, response.headers)
                        async for chunk in response.aiter_bytes():
                            partial.write(chunk)
                        return
                    await response.aread()
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                delay = retry.wait_after_error(exc)
            else:
                delay = retry.wait_after_response(response)
            await asyncio.sleep(delay)

    async def health(self) -> Health:
        """``GET /healthz``: whether the API process is up."""
        return await self._send(endpoints.health())

    async def ready(self) -> Health:
        """``GET /readyz``: whether the API reaches its database and storage (see ``checks``)."""
        return await self._send(endpoints.ready())

    async def search_agents(
        self,
        query: str = "",
        *,
        tag: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        sort: SearchSort | None = None,
        pricing: PricingModel | None = None,
        facets: bool = False,
    ) -> AgentSearchPage:
        """One page of agents matching ``query`` (and ``tag``, ``pricing``), in ``sort`` order
        (relevance by default); ``facets``: the first page counts tags over all matches."""
        call = endpoints.search_agents(
            query,
            tag=tag,
            limit=limit,
            cursor=cursor,
            sort=sort,
            pricing=pricing,
            facets=facets,
        )
        return await self._send(call)

    async def iter_agents(
        self, query: str = "", *, tag: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[AgentSummary]:
        """Every agent matching ``query`` (``async for``), fetching pages lazily."""

        async def fetch(cursor: str | None) -> AgentSearchPage:
            return await self.search_agents(query, tag=tag, limit=page_size, cursor=cursor)

        async for agent in aiterate_pages(fetch):
            yield agent

    async def get_agent(self, agent_id: str) -> Agent:
        """An agent in full: pricing, input and output schemas."""
        return await self._send(endpoints.get_agent(agent_id))

    async def agent_stats(self, agent_id: str) -> AgentStats:
        """Counts of an agent's jobs by outcome, success rate and average duration."""
        return await self._send(endpoints.agent_stats(agent_id))

    async def create_job(
        self,
        agent_id: str,
        prompt: str,
        params: Mapping[str, JsonValue] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Job:
        """Order a job. Safe to retry: without ``idempotency_key`` one is generated per call."""
        return await self._send(
            endpoints.create_job(agent_id, prompt, params, idempotency_key=idempotency_key)
        )

    async def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        agent_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of your jobs, newest first."""
        return await self._send(
            endpoints.list_jobs(status=status, agent_id=agent_id, limit=limit, cursor=cursor)
        )

    async def iter_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        agent_id: str | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Job]:
        """Every one of your jobs, newest first (``async for``), fetching pages lazily."""

        async def fetch(cursor: str | None) -> JobPage:
            return await self.list_jobs(
                status=status, agent_id=agent_id, limit=page_size, cursor=cursor
            )

        async for job in aiterate_pages(fetch):
            yield job

    async def get_job(self, job_id: JobId, *, wait: float | None = None) -> Job:
        """A job; with ``wait`` (seconds, at most 60) the API answers when the job changes."""
        return await self._send(endpoints.get_job(job_id, wait=wait))

    # ASYNC109: ``timeout`` is part of the shared sync/async contract, and it also sizes
    # each long-poll's ``wait=``, which asyncio.timeout around the call could not do.
    async def wait_for_job(self, job_id: JobId, *, timeout: float | None = None) -> Job:  # noqa: ASYNC109
        """Follow a job with server long-polls until it is terminal.

        Raises ``WaitTimeoutError`` (with the last job seen) after ``timeout`` seconds.
        """
        clock = JobWait(timeout)
        job = await self.get_job(job_id)
        while (wait := clock.next_wait(job)) is not None:
            job = await self.get_job(job_id, wait=wait)
        return job

    async def get_result(self, job_id: JobId) -> JobResult:
        """The result of a completed job: each file's name, size, sha256 and download URL."""
        return await self._send(endpoints.get_result(job_id))

    async def download_result(
        self, job_id: JobId, dest_dir: str | PathLike[str], *, overwrite: bool = False
    ) -> list[DownloadedFile]:
        """Download every result file into ``dest_dir``, verified, all or nothing.

        Each file streams to a temp file and is checked against its size and sha256; only
        when all are right are they renamed into place. A file already there with the same
        content is kept; a different one raises ``FileConflictError`` unless ``overwrite``.
        """
        result = await self.get_result(job_id)
        plan = ResultDownload(result.files, Path(dest_dir), overwrite=overwrite)
        try:
            for entry, path in plan.todo:
                partial = plan.start(entry, path)
                await self._download_file(partial, entry.download_url)
                plan.verify(partial)
            return plan.commit()
        finally:
            plan.discard()

    async def cancel_job(self, job_id: JobId) -> Job:
        """Cancel a job that is not terminal yet (409 ``invalid_transition`` otherwise)."""
        return await self._send(endpoints.cancel_job(job_id))

    async def claim_jobs(
        self, agent_id: str | None = None, *, wait: float | None = None, limit: int | None = None
    ) -> list[Job]:
        """Pending jobs of your agents; with ``wait`` the API answers as soon as one arrives."""
        return await self._send(endpoints.claim_jobs(agent_id, wait=wait, limit=limit))

    async def report_status(
        self,
        job_id: JobId,
        status: JobStatus | str,
        *,
        progress: int | None = None,
        reason: str | None = None,
    ) -> Job:
        """Move a job (accepted, rejected, running, failed) or report progress; renews the lease."""
        return await self._send(
            endpoints.report_status(job_id, status, progress=progress, reason=reason)
        )

    async def complete_job(self, job_id: JobId, files: Sequence[UploadSource]) -> Job:
        """Upload the output files (streamed from disk) and mark the job completed."""
        return await self._send(endpoints.complete_job(job_id, files))

    async def publish_agent(self, agent_id: str, agent: AgentPublish) -> Agent:
        """Create or update an agent you own."""
        return await self._send(endpoints.publish_agent(agent_id, agent))
