"""A client's settings and everything derived from them: URLs, headers, timeouts, retries.

No I/O: ``Client`` and ``AsyncClient`` turn an ``ApiCall`` into request arguments here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from agnt_client.__version__ import __version__
from agnt_client.endpoints import ApiCall
from agnt_client.errors import AgntError, APIKeyFormatError, HeaderValueError
from agnt_client.retries import RetryPolicy

API_URL_ENV = "AGNT_API_URL"
API_KEY_ENV = "AGNT_API_KEY"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
USER_AGENT = f"agnt-client/{__version__}"

TimeoutTypes = float | httpx.Timeout | None
"""Seconds for every phase, an ``httpx.Timeout``, or ``None`` for no timeout."""


def clean_api_key(key: str | None, *, source: str = "the API key") -> str | None:
    """``key`` without surrounding whitespace (a mounted secret often ends in a newline);
    ``None`` when nothing is left.

    A key with a space, a control or a non-ASCII character inside cannot be sent in a header:
    ``APIKeyFormatError`` says so without repeating the key (httpx's own error would quote
    the whole header).
    """
    if key is None:
        return None
    key = key.strip()
    if not key:
        return None
    if not all("!" <= char <= "~" for char in key):
        raise APIKeyFormatError(source)
    return key


def check_header_values(headers: Mapping[str, str]) -> None:
    """Refuse a header value HTTP cannot carry, naming the header, never showing the value."""
    for name, value in headers.items():
        if not all(char == "\t" or " " <= char <= "~" for char in value):
            raise HeaderValueError(name)


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: what "same origin" compares."""
    port = url.port
    if port is None:
        port = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host.lower(), port)


@dataclass(frozen=True)
class ClientOptions:
    """Resolved settings of one client (arguments first, then ``AGNT_API_URL``/``AGNT_API_KEY``)."""

    base_url: httpx.URL
    api_key: str | None = field(repr=False)  # never in a log line or traceback
    timeout: httpx.Timeout
    max_retries: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_deadline: float | None = None

    @classmethod
    def resolve(
        cls,
        base_url: str | httpx.URL | None,
        api_key: str | None,
        *,
        timeout: TimeoutTypes,
        max_retries: int | None,
        headers: Mapping[str, str] | None,
        retry_deadline: float | None = None,
    ) -> ClientOptions:
        """Settings from arguments, falling back to the environment; no base URL is an error.

        ``retry_deadline`` bounds the retries of one call in seconds from its start;
        ``max_retries=None`` (no count limit) needs it.
        """
        url = base_url if base_url is not None else os.environ.get(API_URL_ENV)
        if not url:
            raise AgntError(f"no API URL: pass base_url or set {API_URL_ENV}")
        if max_retries is not None and max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if retry_deadline is not None and retry_deadline < 0:
            raise ValueError(f"retry_deadline must be >= 0, got {retry_deadline}")
        if max_retries is None and retry_deadline is None:
            raise ValueError("max_retries=None needs a retry_deadline")
        parsed = httpx.URL(str(url))
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise AgntError(f"API URL must be an absolute http(s) URL, got {str(url)!r}")
        if api_key is not None:
            key = clean_api_key(api_key)
        else:
            key = clean_api_key(os.environ.get(API_KEY_ENV), source=API_KEY_ENV)
        check_header_values(headers or {})
        return cls(
            base_url=parsed.copy_with(path=parsed.path.rstrip("/"), query=None, fragment=None),
            api_key=key,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            max_retries=max_retries,
            headers=dict(headers or {}),
            retry_deadline=retry_deadline,
        )

    def copy_with(self, changes: Mapping[str, Any]) -> ClientOptions:
        """These settings with some replaced (the ``with_options`` keywords), re-validated;
        ``headers`` are added to the current ones."""
        return ClientOptions.resolve(
            changes.get("base_url", self.base_url),
            changes.get("api_key", self.api_key),
            timeout=changes.get("timeout", self.timeout),
            max_retries=changes.get("max_retries", self.max_retries),
            headers={**self.headers, **(changes.get("headers") or {})},
            retry_deadline=changes.get("retry_deadline", self.retry_deadline),
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy for this client's ``max_retries`` and ``retry_deadline``."""
        return RetryPolicy(max_retries=self.max_retries, deadline=self.retry_deadline)

    def url_for(self, path: str) -> httpx.URL:
        """The absolute URL of an API path (the base URL may carry a path prefix)."""
        return self.base_url.copy_with(path=self.base_url.path.rstrip("/") + path)

    def default_headers(self) -> dict[str, str]:
        """Headers every request to the API carries."""
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(self.headers)
        return headers

    def timeout_for(self, long_poll: float) -> httpx.Timeout:
        """The timeout of a request that the server may hold ``long_poll`` seconds."""
        if not long_poll or self.timeout.read is None:
            return self.timeout
        return httpx.Timeout(
            connect=self.timeout.connect,
            read=self.timeout.read + long_poll,
            write=self.timeout.write,
            pool=self.timeout.pool,
        )

    def request_args(self, call: ApiCall[Any]) -> dict[str, Any]:
        """Arguments of ``httpx.Client.build_request`` for ``call`` (the body is added by
        the sync or async client, since an upload streams differently in each)."""
        headers = self.default_headers()
        headers.update(call.headers)
        args: dict[str, Any] = {
            "method": call.method,
            "url": self.url_for(call.path),
            "params": dict(call.params),
            "headers": headers,
            "timeout": self.timeout_for(call.long_poll),
        }
        if call.upload is not None:
            headers.update(call.upload.headers())
        elif call.json is not None:
            args["json"] = call.json
        return args

    def is_own_origin(self, url: httpx.URL) -> bool:
        """Whether ``url`` is on the API's own origin (only then may it see the API key)."""
        return origin(url) == origin(self.base_url)

    def download_request_args(self, download_url: str) -> dict[str, Any]:
        """``build_request`` arguments for a result file's ``download_url``.

        The bearer key goes only to the API's own origin, never to a presigned S3 URL.
        """
        url = self.base_url.join(download_url)
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        if self.is_own_origin(url):
            headers = {**self.default_headers(), "Accept": "*/*"}
        return {"method": "GET", "url": url, "headers": headers, "timeout": self.timeout}
