"""The pages' static files: gzip for text, and a cache lifetime browsers can rely on.

Pages link assets as ``/static/<path>?v=<content hash>`` (``static_url``): a changed file
gets a new address, so a versioned request may be cached for a year; an unversioned one
(the API docs' vendored assets, old links) for an hour. Text files (CSS, JS, SVG, JSON,
maps) are gzipped once per file version and kept in memory (they are few and small).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from functools import lru_cache
from pathlib import Path

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

VERSIONED_CACHE = "public, max-age=31536000, immutable"
UNVERSIONED_CACHE = "public, max-age=3600"
_COMPRESSIBLE = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_MIN_GZIP_BYTES = 512


@lru_cache(maxsize=256)
def _gzipped(full_path: str, mtime_ns: int, size: int) -> tuple[bytes, str]:
    """The file's gzip bytes and its ETag (cached per file version)."""
    raw = Path(full_path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:20]
    return gzip.compress(raw, compresslevel=9, mtime=0), f'"{digest}-gz"'


@lru_cache(maxsize=256)
def _content_hash(full_path: str, mtime_ns: int) -> str:
    return hashlib.sha256(Path(full_path).read_bytes()).hexdigest()[:12]


class CachedStaticFiles(StaticFiles):
    """``StaticFiles`` with gzip for text and ``Cache-Control`` on every answer."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file, gzipped when the client accepts it and that helps, with a lifetime."""
        response = await self._compressed(path, scope)
        if response is None:
            response = await super().get_response(path, scope)
        if response.status_code in (200, 206, 304):
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["Cache-Control"] = VERSIONED_CACHE if versioned else UNVERSIONED_CACHE
            response.headers.setdefault("Vary", "Accept-Encoding")
        return response

    async def _compressed(self, path: str, scope: Scope) -> Response | None:
        suffix = os.path.splitext(path)[1].lower()
        headers = Headers(scope=scope)
        if suffix not in _COMPRESSIBLE or "gzip" not in headers.get("accept-encoding", ""):
            return None
        if scope["method"] not in ("GET", "HEAD") or "range" in headers:
            return None
        try:
            full_path, stat_result = await anyio.to_thread.run_sync(self.lookup_path, path)
        except (OSError, ValueError):
            return None
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            return None
        if stat_result.st_size < _MIN_GZIP_BYTES:
            return None
        body, etag = await anyio.to_thread.run_sync(
            _gzipped, full_path, stat_result.st_mtime_ns, stat_result.st_size
        )
        response_headers = {
            "Content-Encoding": "gzip",
            "ETag": etag,
            "Vary": "Accept-Encoding",
        }
        if headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=response_headers)
        return Response(
            b"" if scope["method"] == "HEAD" else body,
            media_type=_COMPRESSIBLE[suffix],
            headers={**response_headers, "Content-Length": str(len(body))},
        )


def static_url_of(static_dir: Path, path: str) -> str:
    """``/static/<path>?v=<hash of its content>``: a new address whenever the file changes."""
    full = static_dir / path
    return f"/static/{path}?v={_content_hash(str(full), full.stat().st_mtime_ns)}"
