"""agnt client: the Python library for the agnt API, sync (``Client``) and async (``AsyncClient``).

Both take ``base_url`` and ``api_key`` (default ``AGNT_API_URL`` / ``AGNT_API_KEY``), return
``agnt_models`` objects, retry transient failures, and raise the errors of
``agnt_client.errors`` (all ``AgntError``).
"""

from agnt_client.__version__ import __version__
from agnt_client.async_client import AsyncClient
from agnt_client.client import Client
from agnt_client.downloads import DownloadedFile
from agnt_client.errors import (
    AgntError,
    APIConnectionError,
    APIKeyFormatError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChecksumMismatchError,
    ConflictError,
    FileConflictError,
    HeaderValueError,
    InternalServerError,
    JobFailedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    UnsafeFileNameError,
    WaitTimeoutError,
)
from agnt_client.inputs import InputSource
from agnt_client.options import ClientOptions
from agnt_client.retries import RetryPolicy
from agnt_client.uploads import UploadSource

__all__ = [
    "APIConnectionError",
    "APIKeyFormatError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AgntError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "ChecksumMismatchError",
    "Client",
    "ClientOptions",
    "ConflictError",
    "DownloadedFile",
    "FileConflictError",
    "HeaderValueError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "UnprocessableEntityError",
    "UnsafeFileNameError",
    "UploadSource",
    "InputSource",
    "JobFailedError",
    "WaitTimeoutError",
    "__version__",
]
