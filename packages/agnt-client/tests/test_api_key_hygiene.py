"""An API key is stripped where it is read, and never appears in an error message.

A mounted secret often ends in a newline; httpx used to send it, h11 refused the header, and
its ``LocalProtocolError`` quoted the whole ``Bearer <key>`` value in the error message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from agnt_client import APIKeyFormatError, Client, HeaderValueError
from agnt_client.errors import connection_error_for
from agnt_client.options import API_KEY_ENV

KEY = "agnt_b1a2c3d4e5f6a7b8c9d0"


def recording_handler(seen: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json={"status": "ok", "version": "1"})

    return handle


@pytest.mark.parametrize("raw", [f"{KEY}\n", f"  {KEY}\r\n", f"\t{KEY} "])
def test_a_key_with_surrounding_whitespace_is_sent_stripped(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    seen: list[str] = []
    make_client(recording_handler(seen), api_key=raw).health()
    monkeypatch.setenv(API_KEY_ENV, raw)
    make_client(recording_handler(seen), api_key=None).health()
    assert seen == [f"Bearer {KEY}", f"Bearer {KEY}"]


def test_a_whitespace_only_key_counts_as_no_key(make_client: Callable[..., Any]) -> None:
    seen: list[str] = []
    make_client(recording_handler(seen), api_key=" \n").health()
    assert seen == [""]


@pytest.mark.parametrize(
    "bad", [f"{KEY[:10]} {KEY[10:]}", f"{KEY[:10]}\n{KEY[10:]}", f"{KEY}é", f"{KEY}\x07x"]
)
def test_a_key_with_a_bad_character_inside_is_refused_without_showing_it(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    with pytest.raises(APIKeyFormatError) as from_argument:
        make_client(api_key=bad)
    monkeypatch.setenv(API_KEY_ENV, bad)
    with pytest.raises(APIKeyFormatError) as from_env:
        make_client(api_key=None)
    for caught, source in [(from_argument, "the API key"), (from_env, API_KEY_ENV)]:
        message = str(caught.value)
        assert message.startswith(f"{source} is not a valid API key: it contains a space")
        assert KEY[:10] not in message and KEY[10:] not in message


def test_an_extra_header_with_a_line_break_is_refused_naming_only_the_header() -> None:
    with pytest.raises(HeaderValueError) as caught:
        Client(base_url="http://api.test", api_key=KEY, headers={"X-Trace": "abc\r\nX-Evil: 1"})
    assert str(caught.value).startswith("header 'X-Trace' has a value HTTP cannot carry")
    assert "abc" not in str(caught.value)


def test_a_refused_request_is_described_without_its_header_values() -> None:
    request = httpx.Request("GET", "https://bucket.test/r/x.txt?X-Amz-Signature=sig123abc")
    refused = httpx.LocalProtocolError(f"Illegal header value b'Bearer {KEY}\\n'", request=request)
    message = str(connection_error_for(refused))
    assert KEY not in message and "sig123abc" not in message
    assert message.startswith("GET https://bucket.test/r/x.txt failed: LocalProtocolError")
    refused_conn = httpx.ConnectError("[Errno 111] Connection refused", request=request)
    assert "sig123abc" not in str(connection_error_for(refused_conn))


def test_a_live_api_accepts_a_key_read_with_its_trailing_newline(live_api: Any) -> None:
    with Client(base_url=live_api.url, api_key=live_api.buyer_key + "\n") as client:
        assert client.list_jobs().items == []
