"""Property-based API testing: schemathesis generates requests from ``/openapi.json``.

A real ``agnt-server serve`` on Postgres answers every generated case (valid and invalid
input, with the buyer's key for buyer operations and the executor's for executor ones);
no answer may be a 5xx and every answer must match the published schema: a documented
status code, the documented content type and headers, a body of the documented shape.
"""

from __future__ import annotations

import contextlib

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]

CASES_PER_MODE = 40
Failures = dict[str, list]  # "operation: check (what was received)" -> [count, example curl]
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzzed_api(live_api_factory, make_postgres_database):
    """A live API on Postgres with one agent and one job, so some lookups hit real rows."""
    api = live_api_factory(database_url=make_postgres_database())
    published = httpx.put(
        f"{api.url}/v1/executor/agents/fuzz-agent",
        headers={"Authorization": f"Bearer {api.executor_key}"},
        json={"name": "Fuzz target", "tags": ["fuzz"]},
        timeout=30,
    )
    assert published.status_code == 201, published.text
    created = httpx.post(
        f"{api.url}/v1/jobs",
        headers={"Authorization": f"Bearer {api.buyer_key}"},
        json={"agent_id": "fuzz-agent", "prompt": "fuzz"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    return api


def _fuzz_operation(operation, mode, api, headers: dict[str, str], failures: Failures) -> int:
    """Send up to CASES_PER_MODE generated cases to one operation; how many were sent."""
    checks = CONFORMANCE + (
        [negative_data_rejection] if mode is schemathesis.GenerationMode.NEGATIVE else []
    )
    label = f"{operation.label} [{mode.value}]"
    sent = 0
    # Long-polls would hold each case for up to a minute: generated cases never wait.
    fixed = {"wait": 0} if any(p.name == "wait" for p in operation.query) else None

    @settings(
        max_examples=CASES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, query=fixed))
    def send(case) -> None:
        nonlocal sent
        sent += 1
        body_wait = case.body.get("wait") if isinstance(case.body, dict) else None
        if isinstance(body_wait, int | float) and 0 < body_wait <= 60:
            # A valid wait in a body (claims, watch) long-polls too: keep it valid, make it 0.
            case.body["wait"] = 0
        if isinstance(case.headers, dict) and "wait" in str(case.headers.get("Prefer", "")):
            # Prefer: wait=N holds an order until its job ends: generated orders never wait.
            case.headers["Prefer"] = "wait=0"
        if isinstance(case.query, dict) and case.query.get("stream") == "sse":
            # The fuzz job never ends, so its stream would stay open: fuzz the JSON form.
            del case.query["stream"]
        response = case.call(base_url=api.url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as failed:  # collect every failing case, not just the first
            for failure in failed.exceptions:
                received = next(
                    (line.strip() for line in failure.message.splitlines() if "Received" in line),
                    f"status {response.status_code}",
                )
                kind = f"{label}: {failure.title} ({received})"
                failures.setdefault(kind, [0, case.as_curl_command(headers=headers)])
                failures[kind][0] += 1

    # Nothing to negate (no parameters), or nothing serializable: no cases, not a failure.
    with contextlib.suppress(schemathesis.errors.SerializationNotPossible, Unsatisfiable):
        send()
    return sent


def _fuzz(api, *, executor_side: bool) -> tuple[int, Failures]:
    """Every operation of one side, valid and invalid input; (cases sent, failures)."""
    # Unknown query parameters are ignored, as by most HTTP APIs: not input to reject.
    config = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json", config=config)
    key = api.executor_key if executor_side else api.buyer_key
    headers = {"Authorization": f"Bearer {key}"}
    failures: Failures = {}
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/v1/executor") != executor_side:
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            cases += _fuzz_operation(operation, mode, api, headers, failures)
    return cases, failures


def _report(cases: int, failures: Failures) -> str:
    failed = sum(count for count, _ in failures.values())
    lines = [f"{failed} failures in {cases} cases, by operation and kind:"]
    for kind, (count, example) in sorted(failures.items(), key=lambda item: -item[1][0]):
        lines.append(f"  {count:4d}  {kind}\n        e.g. {example[:400]}")
    return "\n".join(lines)


def test_buyer_operations_never_5xx_and_conform_to_the_schema(fuzzed_api) -> None:
    cases, failures = _fuzz(fuzzed_api, executor_side=False)
    assert cases >= 700
    assert not failures, _report(cases, failures)


def test_executor_operations_never_5xx_and_conform_to_the_schema(fuzzed_api) -> None:
    cases, failures = _fuzz(fuzzed_api, executor_side=True)
    assert cases >= 300
    assert not failures, _report(cases, failures)
