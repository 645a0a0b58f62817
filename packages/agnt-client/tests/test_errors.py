"""Error mapping: every status becomes its documented error class, carrying the problem."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

import agnt_client
from agnt_client import (
    AgntError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from agnt_client.errors import status_error_for
from agnt_models import ErrorCode


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (ErrorCode.INVALID_CURSOR, BadRequestError),
        (ErrorCode.NOT_AUTHENTICATED, AuthenticationError),
        (ErrorCode.INVALID_API_KEY, AuthenticationError),
        (ErrorCode.FORBIDDEN, PermissionDeniedError),
        (ErrorCode.JOB_NOT_FOUND, NotFoundError),
        (ErrorCode.AGENT_NOT_FOUND, NotFoundError),
        (ErrorCode.INVALID_TRANSITION, ConflictError),
        (ErrorCode.IDEMPOTENCY_CONFLICT, ConflictError),
        (ErrorCode.PAYLOAD_TOO_LARGE, PayloadTooLargeError),
        (ErrorCode.VALIDATION_ERROR, UnprocessableEntityError),
        (ErrorCode.RATE_LIMITED, RateLimitError),
        (ErrorCode.INTERNAL_ERROR, InternalServerError),
        (ErrorCode.SERVICE_UNAVAILABLE, InternalServerError),
        (ErrorCode.METHOD_NOT_ALLOWED, APIStatusError),
        (ErrorCode.UNSUPPORTED_MEDIA_TYPE, APIStatusError),
    ],
)
def test_each_status_maps_to_its_error_class_with_code(
    make_client: Any, payloads: Any, code: ErrorCode, error_type: type[APIStatusError]
) -> None:
    answer = payloads.problem(code.http_status, code.value, "what went wrong", request_id="req-9")
    client = make_client(lambda request: answer, max_retries=0)
    with pytest.raises(error_type) as caught:
        client.get_job(uuid.uuid4())
    error = caught.value
    assert type(error) is error_type
    assert isinstance(error, AgntError)
    assert (error.status_code, error.code, error.detail) == (
        code.http_status,
        code.value,
        "what went wrong",
    )
    assert error.request_id == "req-9"
    assert f"{code.http_status} {code.value}: what went wrong" in str(error)


def test_validation_error_names_the_bad_fields(make_client: Any, payloads: Any) -> None:
    answer = payloads.problem(
        422,
        "validation_error",
        "params are invalid",
        errors=[{"loc": "params.count", "message": "must be an integer"}],
    )
    with pytest.raises(UnprocessableEntityError) as caught:
        make_client(lambda request: answer).create_job("demo-echo", "hi", {"count": "x"})
    assert [(e.loc, e.message) for e in caught.value.errors] == [
        ("params.count", "must be an integer")
    ]
    assert "params.count: must be an integer" in str(caught.value)


def test_request_id_falls_back_to_the_header(payloads: Any) -> None:
    response = payloads.problem(404, "job_not_found")
    response.request = httpx.Request("GET", "http://api.test/v1/jobs/x")
    assert status_error_for(response).request_id == "req-1"


def test_non_problem_error_body_still_maps_by_status() -> None:
    response = httpx.Response(
        502, text="<html>bad gateway</html>", headers={"X-Request-ID": "gw-1"}
    )
    error = status_error_for(response)
    assert type(error) is InternalServerError
    assert (error.code, error.detail, error.problem) == (None, None, None)
    assert str(error) == "502 Bad Gateway (request id gw-1)"


def test_unexpected_success_body_raises_response_validation_error(make_client: Any) -> None:
    client = make_client(lambda request: httpx.Response(200, json={"id": "not-a-job"}))
    with pytest.raises(APIResponseValidationError) as caught:
        client.get_job(uuid.uuid4())
    assert caught.value.response.status_code == 200


def test_every_error_class_is_exported_and_documented_in_the_tree() -> None:
    tree = agnt_client.errors.__doc__ or ""
    for name in dir(agnt_client.errors):
        value = getattr(agnt_client.errors, name)
        if isinstance(value, type) and issubclass(value, AgntError):
            assert name in tree
            assert getattr(agnt_client, name) is value
            assert value.__doc__


def test_a_body_that_is_not_json_raises_response_validation_error(make_client: Any) -> None:
    client = make_client(lambda request: httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(APIResponseValidationError, match="unexpected body"):
        client.health()
