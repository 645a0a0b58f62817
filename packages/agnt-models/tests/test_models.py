"""Round trips and validation rules of the wire models."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

import agnt_models as m

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
JOB_ID = uuid.uuid4()
PRINCIPAL = uuid.uuid4()


def _job(**over: object) -> m.Job:
    fields: dict[str, object] = {
        "id": JOB_ID,
        "agent_id": "demo-echo",
        "buyer_id": PRINCIPAL,
        "prompt": "hello",
        "params": {"n": 3, "deep": {"list": [1, "two", None, True]}},
        "status": m.JobStatus.RUNNING,
        "progress": 40,
        "created_at": NOW,
        "updated_at": NOW,
        "started_at": NOW,
    }
    fields.update(over)
    return m.Job.model_validate(fields)


SAMPLES: list[BaseModel] = [
    m.ParamRule(name="lang", one_of=["en", "fr"], reason="only en or fr"),
    m.AcceptRules(
        max_prompt_bytes=1_000,
        params=[
            m.ParamRule(name="n", minimum=1, maximum=10),
            m.ParamRule(name="s", pattern="[a-z]+"),
        ],
    ),
    m.Pricing(model=m.PricingModel.PER_JOB, amount_cents=250, currency="EUR"),
    m.AgentPublish(name="Echo", description="d", tags=["Text", "demo"], input_schema={}),
    m.Agent(
        id="demo-echo",
        owner_id=PRINCIPAL,
        name="Echo",
        created_at=NOW,
        updated_at=NOW,
        input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
    ),
    m.AgentSearchPage(
        items=[
            m.AgentSummary(
                id="demo-echo", name="Echo", description="", tags=[], pricing=m.Pricing(), score=0.5
            )
        ],
        next_cursor="abc",
        facets=[m.TagCount(tag="text", count=3)],
    ),
    m.TagCount(tag="demo", count=12),
    m.AgentStats(
        agent_id="demo-echo",
        total=5,
        pending=1,
        in_progress=0,
        completed=3,
        failed=1,
        rejected=0,
        canceled=0,
        success_rate=0.75,
        avg_duration_seconds=1.5,
    ),
    m.AgentSummary(id="demo-x", name="X", description="d", tags=["a"], pricing=m.Pricing()),
    m.FieldError(loc="params.n", message="must be an integer"),
    m.JobCreate(agent_id="demo-echo", prompt="hi", params={"x": [1, 2]}),
    _job(),
    m.JobPage(items=[_job()], next_cursor=None),
    m.ResultFile(
        name="out.txt", size=3, mime="text/plain", sha256="a" * 64, download_url="http://x/y"
    ),
    m.JobResult(job_id=JOB_ID, files=[], created_at=NOW),
    m.StatusReport(status=m.JobStatus.RUNNING, progress=10),
    m.StatusReport(status=m.JobStatus.REJECTED, reason="prompt is empty"),
    m.StatusReport(status=m.JobStatus.RUNNING, progress=50, attempt=2),
    m.JobRelease(reason="executor_shutdown", attempt=1),
    m.JobTimeouts(default=60, max=600),
    m.Problem.of(
        m.ErrorCode.VALIDATION_ERROR, "bad", errors=[m.FieldError(loc="params.n", message="x")]
    ),
    m.ApiKeyCreated(key="k", prefix="p", role=m.Role.BUYER, principal_id=PRINCIPAL, name="n"),
    m.ApiKeyInfo(
        prefix="p", role=m.Role.EXECUTOR, principal_id=PRINCIPAL, name="n", created_at=NOW
    ),
    m.Health(status="ok", checks={"database": "ok"}),
    m.ClaimRequest(max=4, agent_ids=["demo-echo"], wait=30),
    m.ClaimedJobs(items=[_job(status=m.JobStatus.ACCEPTED)]),
    m.JobWatch(job_ids=[JOB_ID], wait=30),
    m.JobEvent(
        job_id=JOB_ID, seq=3, kind=m.JobEventKind.PROGRESS, data={"progress": 40}, created_at=NOW
    ),
    m.JobEventPage(
        items=[m.JobEvent(job_id=JOB_ID, seq=1, kind=m.JobEventKind.CREATED, created_at=NOW)],
        last_seq=1,
    ),
    m.LogLine(stream="stderr", text="step 1 of 3"),
    m.LogBatch(lines=[m.LogLine(text="hello")]),
    m.LogBatchAccepted(accepted=3, dropped=1),
    m.WebhookTarget(url="https://example.com/hooks", events=[m.JobEventKind.COMPLETED]),
    m.WebhookDelivery(
        id=uuid.uuid4(),
        event_seq=2,
        attempt=1,
        url="https://example.com/hooks",
        status_code=204,
        latency_ms=12.5,
        delivered=True,
        created_at=NOW,
    ),
    m.WebhookDeliveryPage(items=[]),
    m.WebhookSecret(secret="whsec_abc", created_at=NOW),
    m.WatchedJobs(items=[_job(status=m.JobStatus.CANCELED)], missing=[uuid.uuid4()]),
    m.InputFile(
        id=uuid.uuid4(),
        name="data.csv",
        size=3,
        sha256="0" * 64,
        media_type="text/csv",
        created_at=NOW,
        expires_at=NOW,
    ),
    m.InputRef(file_id=uuid.uuid4(), name="table.csv"),
    m.InputFilesRule(min=1, max=2, media_types=["image/*", "application/pdf"]),
    m.JobInput(
        name="a.csv", size=1, sha256="0" * 64, media_type="text/csv", download_url="https://x/a"
    ),
    m.JobInputs(job_id=JOB_ID, files=[]),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda x: type(x).__name__)
def test_json_round_trip_is_lossless(model: BaseModel) -> None:
    again = type(model).model_validate_json(model.model_dump_json())
    assert again == model


def test_every_public_model_has_a_sample_and_a_docstring() -> None:
    public = {
        name: obj
        for name, obj in vars(m).items()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not m.WireModel
    }
    sampled = {type(s).__name__ for s in SAMPLES}
    assert set(public) - sampled == set()
    assert all(obj.__doc__ and obj.__doc__.strip() for obj in public.values())


def test_prompt_over_100_kb_is_refused() -> None:
    m.JobCreate(agent_id="demo-echo", prompt="é" * 50_000)  # 100,000 bytes: just fits
    with pytest.raises(ValidationError, match="prompt"):
        m.JobCreate(agent_id="demo-echo", prompt="é" * 50_001)


def test_params_must_be_a_json_object() -> None:
    with pytest.raises(ValidationError):
        m.JobCreate.model_validate({"agent_id": "demo-echo", "prompt": "x", "params": [1, 2]})


@pytest.mark.parametrize("progress", [-1, 101])
def test_progress_outside_0_to_100_is_refused(progress: int) -> None:
    with pytest.raises(ValidationError):
        m.StatusReport(status=m.JobStatus.RUNNING, progress=progress)


@pytest.mark.parametrize("status", ["pending", "completed", "canceled"])
def test_executor_cannot_report_buyer_or_upload_statuses(status: str) -> None:
    with pytest.raises(ValidationError, match="an executor may report only"):
        m.StatusReport.model_validate({"status": status})


def test_tags_are_bounded_normalised_and_unique() -> None:
    agent = m.AgentPublish(name="n", tags=[" Text ", "text", "demo"])
    assert agent.tags == ["text", "demo"]
    with pytest.raises(ValidationError):
        m.AgentPublish(name="n", tags=[f"t{i}" for i in range(21)])
    with pytest.raises(ValidationError):
        m.AgentPublish(name="n", tags=["x" * 51])


def test_name_is_bounded() -> None:
    m.AgentPublish(name="x" * 200)
    with pytest.raises(ValidationError):
        m.AgentPublish(name="x" * 201)
    with pytest.raises(ValidationError):
        m.AgentPublish(name="   ")


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234"])
def test_job_id_must_be_a_uuid(bad: str) -> None:
    with pytest.raises(ValidationError):
        _job(id=bad)


@pytest.mark.parametrize("bad", ["A", "Has Space", "-lead", "trail-", "x" * 65, "../x"])
def test_agent_id_must_be_a_slug(bad: str) -> None:
    with pytest.raises(ValidationError):
        m.JobCreate(agent_id=bad, prompt="x")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        m.JobCreate.model_validate({"agent_id": "demo-echo", "prompt": "x", "extra": 1})


def test_every_error_code_has_a_status_and_title() -> None:
    for code in m.ErrorCode:
        assert 400 <= code.http_status <= 599
        assert code.problem_title
        problem = m.Problem.of(code)
        assert problem.status == code.http_status and problem.code == code


def test_models_package_imports_no_io_library() -> None:
    code = (
        "import sys, agnt_models;"
        "bad = [n for n in ('httpx', 'fastapi', 'sqlalchemy', 'starlette') if n in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_accept_rules_check_prompt_and_params_with_the_executors_reasons() -> None:
    rules = m.AcceptRules(
        max_prompt_bytes=5,
        params=[
            m.ParamRule(name="n", maximum=10, reason="n is at most 10 here"),
            m.ParamRule(name="s", pattern="[a-z]+"),
        ],
    )
    assert rules.violation("hi", {"n": 3, "s": "abc"}) is None
    assert rules.violation("  ", {}) == "the prompt is empty"
    assert rules.violation("héllo", {}) == "the prompt is 6 bytes; this agent accepts at most 5"
    assert rules.violation("hi", {"n": 11}) == "n is at most 10 here"
    assert rules.violation("hi", {"s": "abc1"}) == "param 's' must match [a-z]+"
    assert rules.violation("hi", {"s": "ab\nc"}) == "param 's' must match [a-z]+"


def test_a_rule_pattern_the_linear_engine_cannot_run_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a valid regex"):
        m.ParamRule(name="s", pattern="(?=a)a")
