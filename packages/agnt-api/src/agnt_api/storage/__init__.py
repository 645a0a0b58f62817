"""Result-file storage: the ``Storage`` protocol and the backend that ``AGNT_STORAGE_URL`` names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from agnt_api.settings import Settings, SettingsError
from agnt_api.storage.base import (
    ObjectExists,
    ObjectNotFound,
    Storage,
    StorageError,
    StoredObject,
)
from agnt_api.storage.files import FileStorage

__all__ = [
    "FileStorage",
    "ObjectExists",
    "ObjectNotFound",
    "Storage",
    "StorageError",
    "StoredObject",
    "create_storage",
]


def create_storage(settings: Settings) -> Storage:
    """The backend for ``settings.storage_url``: ``file:///path`` or ``s3://bucket/prefix``."""
    url = urlsplit(settings.storage_url)
    if url.scheme == "file":
        return FileStorage(Path(unquote(url.path)))
    if url.scheme == "s3":
        from agnt_api.storage.s3 import S3Storage  # boto3 loads only when S3 is configured

        return S3Storage.from_url(
            settings.storage_url,
            endpoint_url=settings.s3_endpoint_url,
            public_endpoint_url=settings.s3_public_endpoint_url,
            region_name=settings.s3_region,
        )
    raise SettingsError(f"AGNT_STORAGE_URL: unsupported storage {settings.storage_url!r}")
