"""The order form's file field: chosen files become the job's inputs; refused ones are
shown next to the field and nothing is kept."""

from __future__ import annotations

import re

import sqlalchemy as sa

from agnt_api.db.tables import input_files

HTML = {"Accept": "text/html,application/xhtml+xml"}


def _value(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert match, name
    return match.group(1)


async def _post_order(site, files: list[tuple[str, bytes, str]]):  # type: ignore[no-untyped-def]
    page = await site.client.get("/agents/echo-bot", headers=HTML)
    assert 'type="file"' in page.text and 'enctype="multipart/form-data"' in page.text
    data = {
        "csrf_token": _value(page.text, "csrf_token"),
        "order_key": _value(page.text, "order_key"),
        "prompt": "with files",
    }
    return await site.client.post(
        "/agents/echo-bot/order",
        data=data,
        files=[("input_files", item) for item in files],
        headers=HTML,
    )


async def test_files_chosen_in_the_form_become_the_jobs_inputs(site) -> None:  # type: ignore[no-untyped-def]
    await site.sign_in()
    response = await _post_order(site, [("notes.txt", b"hello form", "text/plain")])
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].removeprefix("/jobs/")
    buyer = {"Authorization": f"Bearer {site.keys['buyer']}"}
    listed = (await site.client.get(f"/v1/jobs/{job_id}/inputs", headers=buyer)).json()
    assert [(f["name"], f["size"]) for f in listed["files"]] == [("notes.txt", 10)]


async def test_a_refused_file_is_shown_by_the_field_and_not_kept(site) -> None:  # type: ignore[no-untyped-def]
    await site.sign_in()
    site.runtime.settings.max_input_bytes = 5
    response = await _post_order(site, [("big.txt", b"more than five", "text/plain")])
    # Post/redirect/get: back to the agent page, the error next to the file field.
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/agents/echo-bot"
    page = await site.client.get("/agents/echo-bot", headers=HTML)
    assert 'id="error-input_files"' in page.text
    count = site.runtime.database.transact(
        lambda c: c.execute(sa.select(sa.func.count()).select_from(input_files)).scalar_one()
    )
    assert count == 0
