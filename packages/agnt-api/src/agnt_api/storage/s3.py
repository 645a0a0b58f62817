"""Result files in any S3-compatible bucket (AWS S3, MinIO, ...), through boto3.

boto3 is blocking, so every call runs in a worker thread. Uploads stream: small files go up
in one PUT, larger ones as a multipart upload whose parts are cut from the incoming chunks,
so memory holds at most one part plus one chunk. Downloads are presigned GET URLs.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from agnt_api.storage.base import ObjectExists, ObjectNotFound, StorageError, StoredObject
from agnt_models import content_disposition

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MIB
MIN_PART_SIZE = 5 * MIB  # S3 rejects smaller parts (except the last one)
READ_CHUNK_SIZE = 256 * 1024

_T = TypeVar("_T")

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_EXISTS_CODES = frozenset({"412", "PreconditionFailed", "ConditionalRequestConflict"})


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Storage:
    """``Storage`` on an S3 bucket; object keys live under an optional prefix.

    ``endpoint_url`` points at a non-AWS server (MinIO); ``public_endpoint_url`` is the
    address buyers reach the same server at, when it differs from the API's (containers),
    and is what presigned URLs are signed for. Region and credentials come from the usual
    AWS variables and files. Files of at least ``multipart_threshold`` bytes go up as a
    multipart upload in ``part_size`` parts.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region_name: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None else multipart_threshold
        session = boto3.session.Session(region_name=region_name)

        def make_client(endpoint: str | None, **options: Any) -> S3Client:
            config = Config(
                signature_version="s3v4",
                # Non-AWS servers (MinIO without a domain) only know path-style addressing.
                s3={"addressing_style": "path" if endpoint else "auto"},
                # Only send checksums S3 demands: several S3-compatible servers reject others.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                **options,
            )
            return session.client("s3", endpoint_url=endpoint, config=config)

        self._client = make_client(
            endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
        )
        # /readyz must answer quickly when the server is down: no retries, short timeouts.
        self._probe_client = make_client(
            endpoint_url,
            connect_timeout=2.0,
            read_timeout=5.0,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        self._presign_client = (
            make_client(public_endpoint_url)
            if public_endpoint_url and public_endpoint_url != endpoint_url
            else self._client
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region_name: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> S3Storage:
        """Build from ``s3://bucket/optional/prefix`` (the ``AGNT_STORAGE_URL`` form)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket[/prefix] URL: {url!r}")
        return cls(
            parts.netloc,
            parts.path,
            endpoint_url=endpoint_url,
            public_endpoint_url=public_endpoint_url,
            region_name=region_name,
            part_size=part_size,
        )

    def object_key(self, key: str) -> str:
        """The bucket key that stores ``key``."""
        return f"{self.prefix}/{key}" if self.prefix else key

    async def _call(self, function: Callable[..., _T], /, **kwargs: Any) -> _T:
        """Run one blocking boto3 call in a worker thread, mapping its failures to ours.

        anyio's pool (40 threads), not asyncio's default one (CPUs + 4): a few slow part
        uploads must not queue the ``/readyz`` probe behind them.
        """
        try:
            return await anyio.to_thread.run_sync(functools.partial(function, **kwargs))
        except ClientError as error:
            code = _error_code(error)
            if code in _NOT_FOUND_CODES:
                raise ObjectNotFound(str(error)) from error
            if code in _EXISTS_CODES:
                raise ObjectExists(str(error)) from error
            raise StorageError(f"S3 {code or 'error'}: {error}") from error
        except BotoCoreError as error:
            raise StorageError(f"S3 unreachable: {error}") from error

    async def _exists(self, object_key: str) -> bool:
        try:
            await self._call(self._client.head_object, Bucket=self.bucket, Key=object_key)
        except ObjectNotFound:
            return False
        return True

    async def save(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str
    ) -> StoredObject:
        """Stream ``chunks`` into a new object; see ``Storage.save``."""
        object_key = self.object_key(key)
        # Fail before reading the stream; the conditional write below closes the race.
        if await self._exists(object_key):
            raise ObjectExists(f"an object is already stored under {key!r}")
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload: _MultipartUpload | None = None
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                if upload is None and len(buffer) >= self.multipart_threshold:
                    upload = await _MultipartUpload.create(self, object_key, content_type)
                while upload is not None and len(buffer) >= self.part_size:
                    with memoryview(buffer) as view:  # one copy of the part, not two
                        part = bytes(view[: self.part_size])
                    del buffer[: self.part_size]
                    await upload.add_part(part)
            if upload is None:
                await self._call(
                    self._client.put_object,
                    Bucket=self.bucket,
                    Key=object_key,
                    Body=bytes(buffer),
                    ContentType=content_type,
                    IfNoneMatch="*",
                )
            else:
                if buffer or not upload.parts:
                    await upload.add_part(bytes(buffer))
                buffer.clear()
                await upload.complete()
        except BaseException:
            if upload is not None:
                # Shielded: a canceled request must still not leave parts or an object behind.
                with anyio.CancelScope(shield=True):
                    await upload.abort()
            raise
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def delete(self, key: str) -> None:
        """Remove the object; S3 treats a missing key as already deleted."""
        await self._call(self._client.delete_object, Bucket=self.bucket, Key=self.object_key(key))

    async def size(self, key: str) -> int:
        """Byte size of the object, from a HEAD request."""
        head = await self._call(
            self._client.head_object, Bucket=self.bucket, Key=self.object_key(key)
        )
        return head["ContentLength"]

    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream bytes ``start..end`` (inclusive) with a ranged GET."""
        options: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key)}
        if start or end is not None:
            options["Range"] = f"bytes={start}-{'' if end is None else end}"
        response = await self._call(self._client.get_object, **options)
        body = response["Body"]
        try:
            while chunk := await self._call(body.read, amt=READ_CHUNK_SIZE):
                yield chunk
        finally:
            body.close()

    async def presigned_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str:
        """A presigned GET that names the file and its type in the response headers."""
        return await self._call(
            self._presign_client.generate_presigned_url,
            ClientMethod="get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.object_key(key),
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )

    async def check(self) -> None:
        """Raise ``StorageError`` unless the bucket answers a HEAD with our credentials.

        Writability is not probed with a write: a readiness probe must not create objects.
        """
        try:
            await self._call(self._probe_client.head_bucket, Bucket=self.bucket)
        except ObjectNotFound as error:
            raise StorageError(f"bucket {self.bucket!r} does not exist") from error

    async def close(self) -> None:
        """Close the clients' connection pools."""
        for client in {
            id(c): c for c in (self._client, self._probe_client, self._presign_client)
        }.values():
            client.close()


class _MultipartUpload:
    """One in-progress multipart upload: its id and the parts sent so far."""

    def __init__(self, storage: S3Storage, object_key: str, upload_id: str) -> None:
        self.storage = storage
        self.object_key = object_key
        self.upload_id = upload_id
        self.parts: list[CompletedPartTypeDef] = []

    @classmethod
    async def create(
        cls, storage: S3Storage, object_key: str, content_type: str
    ) -> _MultipartUpload:
        response = await storage._call(
            storage._client.create_multipart_upload,
            Bucket=storage.bucket,
            Key=object_key,
            ContentType=content_type,
        )
        return cls(storage, object_key, response["UploadId"])

    async def add_part(self, part: bytes) -> None:
        number = len(self.parts) + 1
        response = await self.storage._call(
            self.storage._client.upload_part,
            Bucket=self.storage.bucket,
            Key=self.object_key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=part,
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    async def complete(self) -> None:
        await self.storage._call(
            self.storage._client.complete_multipart_upload,
            Bucket=self.storage.bucket,
            Key=self.object_key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
            IfNoneMatch="*",
        )

    async def abort(self) -> None:
        # The original failure is what the caller needs to see; a lifecycle rule
        # (AbortIncompleteMultipartUpload) cleans up an upload this could not abort.
        with contextlib.suppress(StorageError):
            await self.storage._call(
                self.storage._client.abort_multipart_upload,
                Bucket=self.storage.bucket,
                Key=self.object_key,
                UploadId=self.upload_id,
            )
