"""Cost on the pages: the agent page's estimate (each pricing model) and the job page's cost."""

from __future__ import annotations

import re

import pytest

from agnt_api.web import cost
from agnt_models import JobStatus, JobTimeouts, Pricing, PricingModel

HTML = {"Accept": "text/html"}
PER_SECOND = Pricing(model=PricingModel.PER_SECOND, amount_cents=2, currency="USD")


@pytest.mark.parametrize(
    ("pricing", "timeouts", "average", "text"),
    [
        (Pricing(), None, None, "Free: jobs cost nothing."),
        (
            Pricing(model=PricingModel.PER_JOB, amount_cents=0),
            None,
            3.0,
            "Free: jobs cost nothing.",
        ),
        (
            Pricing(model=PricingModel.PER_JOB, amount_cents=5),
            JobTimeouts(max=300),
            12.0,
            "≈ $0.05 per job, however long it runs.",
        ),
        (
            Pricing(model=PricingModel.PER_JOB, amount_cents=1200, currency="CHF"),
            None,
            None,
            "≈ 12.00 CHF per job, however long it runs.",
        ),
        (
            PER_SECOND,
            JobTimeouts(default=60, max=300),
            12.0,
            "≈ $0.24 – $6.00 per job: 12 s on average so far, 5 min 0 s at most "
            "(longest time limit).",
        ),
        (
            PER_SECOND,
            JobTimeouts(default=60),
            None,
            "≈ up to $1.20 per job: 1 min 0 s at most (time limit).",
        ),
        (
            PER_SECOND,
            JobTimeouts(),
            0.2,
            "< $0.01 per job at the average duration so far (200 ms); no time limit is published.",
        ),
        (PER_SECOND, None, None, "$0.02 per second of run time; no time limit is published."),
    ],
)
def test_estimate_text_of_each_pricing_model(pricing, timeouts, average, text) -> None:
    assert cost.estimate(pricing, timeouts, average) == text


@pytest.mark.parametrize(
    ("pricing", "status", "seconds", "text"),
    [
        (Pricing(), JobStatus.COMPLETED, 3.0, None),
        (Pricing(model=PricingModel.PER_JOB, amount_cents=250), JobStatus.COMPLETED, 3.0, "$2.50"),
        (PER_SECOND, JobStatus.COMPLETED, 12.5, "$0.25 (12 s at $0.02 per second)"),
        (PER_SECOND, JobStatus.COMPLETED, 0.1, "< $0.01 (100 ms at $0.02 per second)"),
        (PER_SECOND, JobStatus.FAILED, 4.0, "— (not completed; $0.02 per second)"),
        (PER_SECOND, JobStatus.RUNNING, None, "$0.02 per second, once it completes"),
        (
            Pricing(model=PricingModel.PER_JOB, amount_cents=250),
            JobStatus.CANCELED,
            None,
            "— (not completed; $2.50 per job)",
        ),
    ],
)
def test_job_cost_text_of_each_pricing_model(pricing, status, seconds, text) -> None:
    assert cost.job_cost(pricing, status, seconds) == text


async def test_agent_pages_show_the_estimate_of_their_pricing(site) -> None:
    site.publish("meter", pricing=PER_SECOND, timeout_seconds=JobTimeouts(default=30, max=120))
    await site.sign_in()
    expected = {
        "report-maker": "≈ $2.50 per job, however long it runs.",
        "echo-bot": "Free: jobs cost nothing.",
        "meter": "≈ up to $2.40 per job: 2 min 0 s at most (longest time limit).",
    }
    for agent_id, text in expected.items():
        page = await site.client.get(f"/agents/{agent_id}", headers=HTML)
        assert page.status_code == 200
        found = re.search(r"data-cost-estimate>([^<]*)<", page.text)
        assert found and found.group(1) == text.replace("&", "&amp;"), agent_id


async def _completed_job(site, agent_id: str) -> str:
    auth = {"Authorization": f"Bearer {site.keys['buyer']}"}
    executor = {"Authorization": f"Bearer {site.keys['executor']}"}
    params = {"language": "en"} if agent_id == "report-maker" else {}
    ordered = await site.client.post(
        "/v1/jobs", headers=auth, json={"agent_id": agent_id, "prompt": "hi", "params": params}
    )
    assert ordered.status_code == 201, ordered.text
    job_id = ordered.json()["id"]
    for status in ("accepted", "running"):
        answer = await site.client.post(
            f"/v1/executor/jobs/{job_id}/status", json={"status": status}, headers=executor
        )
        assert answer.status_code == 200, answer.text
    done = await site.client.post(
        f"/v1/executor/jobs/{job_id}/complete",
        files=[("files", ("report.md", b"# done", "text/markdown"))],
        headers=executor,
    )
    assert done.status_code == 200, done.text
    return str(job_id)


async def test_job_page_shows_the_cost_of_a_priced_job_only(site) -> None:
    site.publish("meter", pricing=PER_SECOND)
    await site.sign_in()
    priced = await site.client.get(
        f"/jobs/{await _completed_job(site, 'report-maker')}", headers=HTML
    )
    assert "<dt>Cost</dt><dd data-job-cost>$2.50</dd>" in priced.text
    metered = await site.client.get(f"/jobs/{await _completed_job(site, 'meter')}", headers=HTML)
    shown = re.search(r"data-job-cost>([^<]*)<", metered.text).group(1)
    assert re.fullmatch(r"(&lt; )?\$\d+\.\d\d \(.+ at \$0\.02 per second\)", shown), shown
    free = await site.client.get(f"/jobs/{await _completed_job(site, 'echo-bot')}", headers=HTML)
    assert free.status_code == 200 and "data-job-cost" not in free.text
