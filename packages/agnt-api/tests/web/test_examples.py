"""Example inputs on the agent page: listed from the input schema's ``examples``, and
``?example=N`` fills the order form on the server (no JavaScript)."""

from __future__ import annotations

import re
from typing import Any

from agnt_api.web.examples import MAX_EXAMPLES, schema_examples

HTML = {"Accept": "text/html"}
PAGE_BUDGET_BYTES = 15_000  # as in test_pages.py

EXAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["language"],
    "properties": {
        "language": {"type": "string", "enum": ["en", "fr", "de"], "examples": ["fr", "de"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "examples": [7]},
        "loud": {"type": "boolean"},
    },
    "examples": [{"language": "de", "count": 4, "loud": True}],
}


def test_whole_examples_come_first_then_per_property_ones_by_position() -> None:
    assert schema_examples(EXAMPLE_SCHEMA) == [
        {"language": "de", "count": 4, "loud": True},
        {"language": "fr", "count": 7},
        {"language": "de"},
    ]


def test_no_examples_odd_ones_and_huge_ones_are_left_out() -> None:
    assert schema_examples({"type": "object"}) == []
    assert schema_examples({"examples": "nope", "properties": {"a": {"examples": 3}}}) == []
    assert schema_examples({"examples": [1, "x", {}, {"a": "y" * 3000}, {"a": 1}]}) == [{"a": 1}]
    many = {"examples": [{"n": n} for n in range(20)]}
    assert len(schema_examples(many)) == MAX_EXAMPLES


async def test_agent_page_lists_examples_with_links_that_fill_the_form(site) -> None:
    site.publish("example-maker", input_schema=EXAMPLE_SCHEMA)
    await site.sign_in()
    page = await site.client.get("/agents/example-maker", headers=HTML)
    assert page.status_code == 200
    assert "data-examples" in page.text and page.text.count("data-example=") == 3
    for index in range(3):
        assert f'href="/agents/example-maker?example={index}#order-form"' in page.text

    filled = await site.client.get("/agents/example-maker?example=0", headers=HTML)
    assert filled.status_code == 200
    assert "Filled in with example 1" in filled.text
    assert re.search(r'<option value="de"\s+selected', filled.text), "language not chosen"
    assert re.search(r'name="param\.count"[^>]*value="4"', filled.text) or re.search(
        r'value="4"[^>]*name="param\.count"', filled.text
    )
    assert re.search(r'name="param\.loud"[^>]*checked', filled.text)

    second = await site.client.get("/agents/example-maker?example=1", headers=HTML)
    assert re.search(r'<option value="fr"\s+selected', second.text)


async def test_an_example_that_does_not_exist_says_so(site) -> None:
    site.publish("example-maker", input_schema=EXAMPLE_SCHEMA)
    await site.sign_in()
    page = await site.client.get("/agents/example-maker?example=3", headers=HTML)
    assert page.status_code == 200 and "This agent has no example 4." in page.text
    bad = await site.client.get("/agents/example-maker?example=-1", headers=HTML)
    assert bad.status_code == 422
    assert "Internal" not in bad.text


async def test_an_agent_without_examples_shows_no_examples_section(site) -> None:
    await site.sign_in()
    page = await site.client.get("/agents/report-maker", headers=HTML)
    assert page.status_code == 200 and "data-examples" not in page.text


async def test_the_page_with_the_most_examples_stays_within_the_weight_budget(site) -> None:
    import gzip

    wordy = {"examples": [{"text": f"example {n} " + "lorem ipsum " * 160} for n in range(9)]}
    site.publish("wordy", input_schema=wordy)
    await site.sign_in()
    page = await site.client.get("/agents/wordy", headers=HTML)
    assert page.text.count("data-example=") == MAX_EXAMPLES
    weight = len(gzip.compress(page.content, 9))
    for ref in set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)):
        weight += len(gzip.compress((await site.client.get(ref)).content, 9))
    print(f"agent page with {MAX_EXAMPLES} examples: {weight} bytes gzipped")
    assert weight <= PAGE_BUDGET_BYTES
