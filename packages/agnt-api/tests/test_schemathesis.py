"""Property-based API testing: schemathesis generates requests from ``/openapi.json``.

A real ``agnt-server serve`` on Postgres answers every generated case (valid and invalid
input, with the buyer's key for buyer operations and the executor's for executor ones);
no answer may be a 5xx and every answer must match the published schema: a documented
status code, the documented content type and headers, a body of the documented shape.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(240)]

CASES_PER_MODE = 50
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


def _fuzz(api, *, executor_side: bool) -> tuple[int, list[str]]:
    """Run every operation of one side in both generation modes; (cases, failures)."""
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    key = api.executor_key if executor_side else api.buyer_key
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    cases = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/v1/executor") != executor_side:
            continue
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            checks = CONFORMANCE + (
                [negative_data_rejection] if mode is schemathesis.GenerationMode.NEGATIVE else []
            )

            @settings(
                max_examples=CASES_PER_MODE,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case, checks=checks, label=f"{operation.label} [{mode.value}]") -> None:
                nonlocal cases
                cases += 1
                response = case.call(base_url=api.url, headers=headers)
                try:
                    case.validate_response(response, checks=checks, headers=headers)
                except Exception as exc:  # every check failure is collected, not just the first
                    failures.append(f"{label}: {str(exc)[:1500]}")

            try:
                run()
            except schemathesis.errors.SerializationNotPossible:
                continue
    return cases, failures


def test_buyer_operations_never_5xx_and_conform_to_the_schema(fuzzed_api) -> None:
    cases, failures = _fuzz(fuzzed_api, executor_side=False)
    assert cases >= 600
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n\n".join(failures[:15])


def test_executor_operations_never_5xx_and_conform_to_the_schema(fuzzed_api) -> None:
    cases, failures = _fuzz(fuzzed_api, executor_side=True)
    assert cases >= 300
    assert not failures, f"{len(failures)} of {cases} cases failed:\n" + "\n\n".join(failures[:15])
