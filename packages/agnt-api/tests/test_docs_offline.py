"""``/docs`` and ``/redoc`` load only pinned assets from this origin, and ``nosniff`` is everywhere."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _asset_urls(page: str) -> list[str]:
    return _ASSET.findall(page)


@pytest.mark.parametrize(
    ("page", "script"),
    [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")],
)
async def test_docs_pages_reference_only_same_origin_assets_that_are_served(
    api: Any, page: str, script: str
) -> None:
    response = await api.client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "cdn." not in html
    assert "fonts.googleapis" not in html
    urls = _asset_urls(html)
    assert any(url.endswith(script) for url in urls), urls
    for url in urls:
        absolute = urljoin(str(response.url), url)
        assert urlsplit(absolute).netloc == "testserver", f"{url} is not same-origin"
        asset = await api.client.get(absolute)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
            assert len(asset.content) > 100_000  # the real bundle, not a stub
        elif url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css")


async def test_swagger_ui_sends_nothing_to_the_validator_service(api: Any) -> None:
    html = (await api.client.get("/docs")).text
    assert '"validatorUrl": null' in html


async def test_vendored_assets_ship_with_their_licences(api: Any) -> None:
    from agnt_api.api.docs import REDOC_VERSION, SWAGGER_UI_VERSION

    for folder in (f"swagger-ui-dist-{SWAGGER_UI_VERSION}", f"redoc-{REDOC_VERSION}"):
        licence = await api.client.get(f"/static/vendor/{folder}/LICENSE")
        assert licence.status_code == 200
        assert "Permission is hereby granted" in licence.text or "Apache" in licence.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/v1/jobs"),
        ("GET", "/no/such/route"),
        ("GET", "/signin"),
        ("GET", "/static/agnt.css"),
    ],
)
async def test_every_response_says_nosniff(api: Any, method: str, path: str) -> None:
    response = await api.client.request(method, path)
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_oversized_body_refused_up_front_says_nosniff_too(api: Any) -> None:
    response = await api.client.post(
        "/v1/jobs",
        headers={**api.auth("buyer-a"), "Content-Length": str(10**12)},
        content=b"{}",
    )
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
