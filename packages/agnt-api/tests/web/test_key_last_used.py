"""Keys' "last used": marked when a key authenticates, throttled, shown on the account page.

On SQLite and Postgres (the ``site`` fixture). Throttling is checked by counting the
UPDATE statements the engine sends, and by the stored time not moving within the minute.
"""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from agnt_api.auth import key_prefix
from agnt_api.db.tables import api_keys
from agnt_api.services import keys
from agnt_api.services.key_cache import KeyCache
from agnt_api.services.records import as_utc, utc_now
from agnt_models import Role

HTML = {"Accept": "text/html"}


def _row(site, prefix: str) -> str:
    return re.search(rf'<tr data-key-prefix="{prefix}">.*?</tr>', site, re.S).group(0)


def _last_used(site, prefix: str):
    value = site.runtime.database.transact(
        lambda c: c.execute(
            sa.select(api_keys.c.last_used_at).where(api_keys.c.prefix == prefix)
        ).scalar_one()
    )
    return None if value is None else as_utc(value)


def _key_updates(site) -> list[str]:
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            seen.append(statement)

    sa.event.listen(site.runtime.database.engine, "before_cursor_execute", before)
    return seen


async def test_a_used_key_shows_a_last_used_time_and_a_fresh_one_never(site) -> None:
    await site.sign_in()
    buyer = site.principals["buyer"]
    fresh = site.runtime.database.transact_write(keys.create_key, Role.BUYER, "ci", buyer.id)
    prefix = key_prefix(fresh.key)
    page = (await site.client.get("/account", headers=HTML)).text
    assert '<td data-label="Last used" data-last-used>never</td>' in _row(page, prefix)
    # The signed-in key was used to sign in.
    signed = _row(page, key_prefix(site.keys["buyer"]))
    assert "<time " in signed and "UTC" in signed

    answer = await site.client.get("/v1/jobs", headers={"Authorization": f"Bearer {fresh.key}"})
    assert answer.status_code == 200
    used = _last_used(site, prefix)
    assert used is not None and abs(utc_now() - used) < timedelta(seconds=30)
    row = _row((await site.client.get("/account", headers=HTML)).text, prefix)
    assert "never" not in row and "<time " in row and 'title="' in row
    assert fresh.key not in row
    # The operators' listing (``agnt-server keys list``) carries it too.
    listed = {k.prefix: k for k in site.runtime.database.transact(keys.list_keys)}
    assert listed[prefix].last_used_at == used
    assert listed[prefix].to_json_dict()["last_used_at"] is not None


async def test_two_requests_within_a_minute_write_once(site) -> None:
    key = site.keys["other-buyer"]
    updates = _key_updates(site)
    for _ in range(3):
        answer = await site.client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
    assert len(updates) == 1
    first = _last_used(site, key_prefix(key))
    assert first is not None


async def test_a_cached_hit_still_marks_use_after_the_minute(site) -> None:
    now = [1000.0]
    # A long auth cache, so the second request never looks the key up again.
    site.runtime.keys = KeyCache(3600, clock=lambda: now[0])
    key = site.keys["other-buyer"]
    prefix = key_prefix(key)
    auth = {"Authorization": f"Bearer {key}"}
    assert (await site.client.get("/v1/jobs", headers=auth)).status_code == 200
    first = _last_used(site, prefix)
    assert first is not None
    earlier = first - timedelta(minutes=5)
    site.runtime.database.transact_write(
        lambda c: c.execute(
            api_keys.update().where(api_keys.c.prefix == prefix).values(last_used_at=earlier)
        )
    )
    now[0] += 30  # within the minute: no write
    assert (await site.client.get("/v1/jobs", headers=auth)).status_code == 200
    assert _last_used(site, prefix) == earlier
    now[0] += 31  # past it: the cached hit marks again
    assert (await site.client.get("/v1/jobs", headers=auth)).status_code == 200
    assert _last_used(site, prefix) > earlier + timedelta(minutes=4)


async def test_the_update_skips_a_row_another_replica_wrote_within_the_minute(site) -> None:
    prefix = key_prefix(site.keys["other-buyer"])
    database = site.runtime.database
    start = utc_now()
    assert database.transact_write(keys.mark_used, prefix, start) is True
    later = start + timedelta(seconds=59)
    assert database.transact_write(keys.mark_used, prefix, later) is False
    assert _last_used(site, prefix) == start
    much_later = start + timedelta(seconds=61)
    assert database.transact_write(keys.mark_used, prefix, much_later) is True
    assert _last_used(site, prefix) == much_later


async def test_unknown_or_revoked_keys_mark_nothing(site) -> None:
    buyer = site.principals["buyer"]
    made = site.runtime.database.transact_write(keys.create_key, Role.BUYER, "gone", buyer.id)
    site.runtime.database.transact_write(keys.revoke_key, key_prefix(made.key))
    answer = await site.client.get("/v1/jobs", headers={"Authorization": f"Bearer {made.key}"})
    assert answer.status_code == 401
    assert _last_used(site, key_prefix(made.key)) is None
