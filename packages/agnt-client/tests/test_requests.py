"""What the client puts on the wire: URLs, headers, query strings, bodies, timeouts."""

from __future__ import annotations

import json
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from agnt_client import AgntError, APIResponseValidationError, Client, __version__
from agnt_client.endpoints import format_seconds, segment
from agnt_client.options import ClientOptions
from agnt_client.uploads import MultipartUpload
from agnt_client.waiting import long_poll_seconds
from agnt_models import AgentPublish, JobStatus


def recording(payload: Any, status: int = 200) -> tuple[list[httpx.Request], Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(status, json=payload)

    return seen, handler


def test_every_request_carries_user_agent_accept_and_bearer_key(
    make_client: Any, payloads: Any
) -> None:
    seen, handler = recording(payloads.job())
    make_client(handler).get_job(uuid.uuid4())
    headers = seen[0].headers
    assert headers["user-agent"] == f"agnt-client/{__version__}"
    assert headers["accept"] == "application/json"
    assert headers["authorization"] == "Bearer agnt_test_key"


def test_base_url_and_key_default_to_the_environment(
    make_client: Any, payloads: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGNT_API_URL", "https://env.example/prefix/")
    monkeypatch.setenv("AGNT_API_KEY", "agnt_env_key")
    seen, handler = recording(payloads.job())
    make_client(handler, base_url=None, api_key=None).get_job(
        "3c1f5b8e-6a7e-4b4e-9d8e-2f1a0b9c8d7e"
    )
    assert (
        str(seen[0].url)
        == "https://env.example/prefix/v1/jobs/3c1f5b8e-6a7e-4b4e-9d8e-2f1a0b9c8d7e"
    )
    assert seen[0].headers["authorization"] == "Bearer agnt_env_key"


def test_missing_base_url_is_an_agnt_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGNT_API_URL", raising=False)
    with pytest.raises(AgntError, match="AGNT_API_URL"):
        Client()


def test_relative_base_url_is_refused() -> None:
    with pytest.raises(AgntError, match="absolute"):
        Client("api.example.com")


def test_without_a_key_no_authorization_header_is_sent(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGNT_API_KEY", raising=False)
    seen, handler = recording({"status": "ok", "checks": {}})
    make_client(handler, api_key=None).health()
    assert "authorization" not in seen[0].headers
    assert seen[0].url.path == "/healthz"


def test_search_sends_query_tag_limit_and_cursor(make_client: Any) -> None:
    seen, handler = recording({"items": [], "next_cursor": None})
    page = make_client(handler).search_agents("pdf", tag="text", limit=5, cursor="c1")
    assert page.items == []
    assert seen[0].url.path == "/v1/agents/search"
    assert dict(seen[0].url.params) == {"q": "pdf", "tag": "text", "limit": "5", "cursor": "c1"}


def test_list_jobs_leaves_out_filters_not_given(make_client: Any) -> None:
    seen, handler = recording({"items": [], "next_cursor": None})
    make_client(handler).list_jobs(status=JobStatus.RUNNING)
    assert dict(seen[0].url.params) == {"status": "running"}


def test_create_job_generates_one_idempotency_key_per_call(make_client: Any, payloads: Any) -> None:
    seen, handler = recording(payloads.job(), status=201)
    client = make_client(handler)
    client.create_job("demo-echo", "hi", {"n": 1})
    client.create_job("demo-echo", "hi", {"n": 1})
    keys = [r.headers["idempotency-key"] for r in seen]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(k).version == 4 for k in keys)
    assert json.loads(seen[0].content) == {
        "agent_id": "demo-echo",
        "prompt": "hi",
        "params": {"n": 1},
    }


def test_create_job_sends_the_callers_idempotency_key(make_client: Any, payloads: Any) -> None:
    seen, handler = recording(payloads.job(), status=201)
    make_client(handler).create_job("demo-echo", "hi", idempotency_key="order-42")
    assert seen[0].headers["idempotency-key"] == "order-42"
    assert json.loads(seen[0].content)["params"] == {}


def test_get_job_with_wait_extends_the_read_timeout(make_client: Any, payloads: Any) -> None:
    seen, handler = recording(payloads.job())
    make_client(handler, timeout=5.0).get_job(uuid.uuid4(), wait=20)
    assert seen[0].url.params["wait"] == "20"
    assert seen[0].extensions["timeout"]["read"] == 25.0
    assert seen[0].extensions["timeout"]["connect"] == 5.0


def test_claim_jobs_posts_a_claim_request_and_extends_the_read_timeout(
    make_client: Any, payloads: Any
) -> None:
    jobs = [payloads.job(status="accepted"), payloads.job(status="accepted")]
    seen, handler = recording({"items": jobs})
    job_id = uuid.uuid4()
    claimed = make_client(handler, timeout=5.0).claim_jobs(
        max=2, agent_ids=["demo-echo"], job_ids=[job_id], wait=2.5
    )
    assert [str(j.id) for j in claimed] == [j["id"] for j in jobs]
    assert (seen[0].method, seen[0].url.path) == ("POST", "/v1/executor/claims")
    assert json.loads(seen[0].content) == {
        "max": 2,
        "agent_ids": ["demo-echo"],
        "job_ids": [str(job_id)],
        "wait": 2.5,
    }
    assert seen[0].extensions["timeout"]["read"] == 7.5


def test_claim_jobs_sends_only_given_fields(make_client: Any) -> None:
    seen, handler = recording({"items": []})
    assert make_client(handler).claim_jobs() == []
    assert json.loads(seen[0].content) == {"max": 1}


def test_watch_jobs_names_the_held_jobs_and_reads_the_missing(
    make_client: Any, payloads: Any
) -> None:
    gone = payloads.job(status="canceled")
    missing = str(uuid.uuid4())
    seen, handler = recording({"items": [gone], "missing": [missing]})
    held = [uuid.UUID(gone["id"]), uuid.UUID(missing)]
    watched = make_client(handler).watch_jobs(held, wait=30)
    assert [str(j.id) for j in watched.items] == [gone["id"]]
    assert [str(m) for m in watched.missing] == [missing]
    assert (seen[0].method, seen[0].url.path) == ("POST", "/v1/executor/jobs/watch")
    assert json.loads(seen[0].content) == {"job_ids": [str(i) for i in held], "wait": 30}


def test_list_executor_jobs_asks_for_a_status(make_client: Any, payloads: Any) -> None:
    seen, handler = recording({"items": [payloads.job(status="accepted")], "next_cursor": None})
    page = make_client(handler).list_executor_jobs(status=JobStatus.ACCEPTED, agent_id="a")
    assert page.items[0].status is JobStatus.ACCEPTED
    assert seen[0].url.path == "/v1/executor/jobs"
    assert dict(seen[0].url.params) == {"status": "accepted", "agent_id": "a"}


def test_complete_job_carries_one_idempotency_key_per_call(
    make_client: Any, payloads: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    out.write_text("x")
    seen, handler = recording(payloads.job(status="completed"))
    client = make_client(handler)
    client.complete_job(uuid.uuid4(), [out])
    client.complete_job(uuid.uuid4(), [out])
    client.complete_job(uuid.uuid4(), [out], idempotency_key="mine")
    keys = [request.headers["idempotency-key"] for request in seen]
    assert len(set(keys[:2])) == 2
    assert keys[2] == "mine"


def test_report_status_sends_only_given_fields(make_client: Any, payloads: Any) -> None:
    seen, handler = recording(payloads.job(status="running", progress=40))
    job_id = uuid.uuid4()
    job = make_client(handler).report_status(job_id, JobStatus.RUNNING, progress=40)
    assert job.progress == 40
    assert seen[0].method == "POST"
    assert seen[0].url.path == f"/v1/executor/jobs/{job_id}/status"
    assert json.loads(seen[0].content) == {"status": "running", "progress": 40}


def test_publish_agent_puts_the_agent_document(make_client: Any) -> None:
    agent = AgentPublish(name="Echo", tags=["text"])
    answer = {
        **agent.to_json_dict(),
        "id": "my-echo",
        "owner_id": str(uuid.uuid4()),
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    seen, handler = recording(answer, status=201)
    published = make_client(handler).publish_agent("my-echo", agent)
    assert published.id == "my-echo"
    assert seen[0].method == "PUT"
    assert seen[0].url.path == "/v1/executor/agents/my-echo"
    assert json.loads(seen[0].content) == agent.to_json_dict()


def test_complete_job_streams_every_file_as_a_multipart_part(
    make_client: Any, payloads: Any, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    report.write_text("# Report\n")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 1000)
    seen, handler = recording(payloads.job(status="completed"))
    make_client(handler).complete_job(uuid.uuid4(), [report, ("data.bin", blob)])
    request = seen[0]
    assert request.headers["content-length"] == str(len(request.content))
    assert "transfer-encoding" not in request.headers
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    parts = [
        (
            p.get_param("name", header="content-disposition"),
            p.get_filename(),
            p.get_content_type(),
            p.get_payload(decode=True),
        )
        for p in message.iter_parts()
    ]
    assert parts == [
        ("files", "report.md", "text/markdown", b"# Report\n"),
        ("files", "data.bin", "application/octet-stream", blob.read_bytes()),
    ]


def test_complete_job_with_a_missing_file_fails_before_sending(
    make_client: Any, tmp_path: Path
) -> None:
    seen, handler = recording({})
    with pytest.raises(FileNotFoundError):
        make_client(handler).complete_job(uuid.uuid4(), [tmp_path / "absent.txt"])
    assert seen == []


def test_upload_body_can_be_produced_again_for_a_retry(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"x" * 200_000)
    upload = MultipartUpload.from_sources("files", [path])
    first = b"".join(upload.iter_chunks())
    assert first == b"".join(upload.iter_chunks())
    assert len(first) == upload.content_length


def test_upload_of_a_file_that_shrank_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"x" * 1000)
    upload = MultipartUpload.from_sources("files", [path])
    path.write_bytes(b"x" * 10)
    with pytest.raises(AgntError, match="shrank"):
        b"".join(upload.iter_chunks())


def test_file_names_with_quotes_are_escaped_in_the_part_header(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"")
    upload = MultipartUpload.from_sources("files", [('a"b\\c.txt', path)])
    assert b'filename="a\\"b\\\\c.txt"' in b"".join(upload.iter_chunks())


def test_with_options_replaces_settings_and_keeps_the_rest(make_client: Any, payloads: Any) -> None:
    seen, handler = recording(payloads.job())
    client = make_client(handler, headers={"X-Team": "search"})
    other = client.with_options(api_key="agnt_other", timeout=3.0, headers={"X-Extra": "1"})
    other.get_job(uuid.uuid4())
    assert seen[0].headers["authorization"] == "Bearer agnt_other"
    assert seen[0].headers["x-team"] == "search"
    assert seen[0].headers["x-extra"] == "1"
    assert seen[0].extensions["timeout"]["read"] == 3.0
    assert client.options.api_key == "agnt_test_key"
    assert other.options.max_retries == client.options.max_retries
    client.get_job(uuid.uuid4())
    assert seen[1].headers["authorization"] == "Bearer agnt_test_key"


def test_ids_are_percent_encoded_and_empty_ids_refused(make_client: Any) -> None:
    assert segment("a/b") == "a%2Fb"
    with pytest.raises(ValueError, match="empty"):
        make_client(recording({})[1]).get_job("")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0"), (2.0, "2"), (2.5, "2.5"), (60, "60")])
def test_wait_seconds_are_written_compactly(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_long_poll_wait_rounds_up_to_a_tenth() -> None:
    assert long_poll_seconds(4.91) == 5.0
    assert long_poll_seconds(0.0001) == 0.1


def test_download_of_a_presigned_url_carries_no_api_key() -> None:
    options = ClientOptions.resolve(
        "https://api.example", "agnt_secret", timeout=5, max_retries=0, headers={"X-Team": "t"}
    )
    own = options.download_request_args("https://api.example:443/v1/jobs/j/files/a.txt")
    foreign = options.download_request_args("https://bucket.s3.example/a.txt?X-Amz-Signature=s")
    other_port = options.download_request_args("https://api.example:8443/v1/jobs/j/files/a.txt")
    relative = options.download_request_args("/v1/jobs/j/files/a.txt")
    assert own["headers"]["Authorization"] == "Bearer agnt_secret"
    assert relative["headers"]["Authorization"] == "Bearer agnt_secret"
    assert str(relative["url"]) == "https://api.example/v1/jobs/j/files/a.txt"
    for args in (foreign, other_port):
        assert "Authorization" not in args["headers"]
        assert "X-Team" not in args["headers"]


def test_ready_returns_the_failing_checks_without_retrying(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"status": "unavailable", "checks": {"database": "ok", "storage": "unreachable"}}
        return httpx.Response(503, json=body)

    ready = make_client(handler, max_retries=2).ready()
    assert (ready.status, ready.checks["storage"]) == ("unavailable", "unreachable")
    assert len(seen) == 1


def test_a_copy_shares_the_pool_and_closing_it_keeps_the_original_open(
    make_client: Any, payloads: Any
) -> None:
    client = make_client(lambda request: httpx.Response(200, json=payloads.job()))
    copy = client.with_options(max_retries=0)
    copy.close()
    assert client.get_job(uuid.uuid4()).status == "pending"


def test_a_callers_http_client_is_used_and_left_open(payloads: Any) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=payloads.job()))
    with httpx.Client(transport=transport, headers={"X-Via": "mine"}) as http:
        client = Client("http://api.test", "k", http_client=http)
        client.get_job(uuid.uuid4())
        client.close()
        assert not http.is_closed


def test_http_client_and_transport_together_are_refused() -> None:
    with httpx.Client() as http, pytest.raises(ValueError, match="not both"):
        Client(
            "http://api.test",
            http_client=http,
            transport=httpx.MockTransport(lambda r: httpx.Response(200)),
        )


def test_the_api_key_is_not_in_the_options_repr() -> None:
    with Client("http://api.test", "agnt_secret_value") as client:
        assert "agnt_secret_value" not in repr(client.options)
        assert client.options.api_key == "agnt_secret_value"


def test_fields_a_newer_api_adds_are_ignored_at_every_level(
    make_client: Any, payloads: Any
) -> None:
    job = payloads.job(params={"keep": {"nested": 1}}, queue_position=3)
    seen, handler = recording({"items": [job], "next_cursor": None, "total": 1})
    page = make_client(handler).list_jobs()
    assert page.items[0].params == {"keep": {"nested": 1}}
    assert str(page.items[0].id) == job["id"]


def test_a_missing_required_field_is_still_an_error(make_client: Any, payloads: Any) -> None:
    job = payloads.job()
    del job["status"]
    seen, handler = recording(job)
    with pytest.raises(APIResponseValidationError, match="status"):
        make_client(handler).get_job(job["id"])


def test_with_options_validates_like_the_constructor(make_client: Any) -> None:
    client = make_client(recording({})[1])
    with pytest.raises(ValueError, match="max_retries"):
        client.with_options(max_retries=-1)
    with pytest.raises(AgntError, match="absolute"):
        client.with_options(base_url="not a url")
    assert (
        str(client.with_options(base_url="https://other.example/").options.base_url)
        == "https://other.example"
    )


def test_user_agent_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    assert __version__ == version("agnt-client")
