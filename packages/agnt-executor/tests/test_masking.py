"""Masking secret values in text and, streaming, in result files."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from agnt_executor.masking import SecretMasker


def reference_mask(text: bytes, secrets: list[bytes]) -> bytes:
    """Every byte inside any occurrence is covered; each run of covered bytes becomes ***."""
    covered = [False] * len(text)
    for secret in secrets:
        for start in range(len(text) - len(secret) + 1):
            if text[start : start + len(secret)] == secret:
                covered[start : start + len(secret)] = [True] * len(secret)
    out = bytearray()
    for index, byte in enumerate(text):
        if not covered[index]:
            out.append(byte)
        elif index == 0 or not covered[index - 1]:
            out += b"***"
    return bytes(out)


def test_every_occurrence_of_each_secret_is_masked() -> None:
    masker = SecretMasker(["s3cr3t-value", None, "", "   "])
    text = "key=s3cr3t-value and again s3cr3t-value."
    assert masker.mask_text(text) == "key=*** and again ***."


def test_surrounding_whitespace_and_lines_of_a_multiline_secret_are_masked() -> None:
    masker = SecretMasker(["  padded-key\n", "-----BEGIN-----\nline-one\nline-two\n"])
    assert masker.mask_text("a padded-key b") == "a *** b"
    assert masker.mask_text("x line-two y line-one") == "x *** y ***"


def test_overlapping_occurrences_become_one_mask() -> None:
    assert SecretMasker(["abab"]).mask_text("xababab!") == "x***!"
    assert SecretMasker(["abc", "bcd"]).mask_text("abcd") == "***"


def test_a_name_is_masked_with_a_portable_word() -> None:
    assert SecretMasker(["tok"]).mask_name("tok.txt") == "masked.txt"


def test_no_secrets_masks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("anything")
    masker = SecretMasker([None])
    assert not masker
    assert masker.mask_text("anything") == "anything"
    assert masker.mask_results([("out.txt", path)]) == [("out.txt", path)]


def test_a_file_is_masked_in_place_and_a_clean_file_is_left_alone(tmp_path: Path) -> None:
    dirty = tmp_path / "dirty.txt"
    clean = tmp_path / "clean.bin"
    secret = "agnt_" + "k" * 40
    dirty.write_bytes((b"x" * 5000 + secret.encode() + b"\n") * 3)
    clean.write_bytes(b"\x00\xff" * 10_000)
    before = clean.stat().st_mtime_ns
    masker = SecretMasker([secret])
    assert masker.mask_file(dirty) is True
    assert dirty.read_bytes() == (b"x" * 5000 + b"***\n") * 3
    assert masker.mask_file(clean) is False
    assert clean.stat().st_mtime_ns == before
    assert not list(tmp_path.glob(".masking-*"))


def test_a_secret_spanning_a_chunk_boundary_is_found(tmp_path: Path) -> None:
    secret = b"0123456789abcdef"
    data = b"y" * 1000 + secret + b"z" * 1000
    masker = SecretMasker([secret.decode()])
    for chunk in range(1, 40):
        sink = io.BytesIO()
        masker.mask_stream(io.BytesIO(data), sink, chunk_bytes=chunk)
        assert sink.getvalue() == b"y" * 1000 + b"***" + b"z" * 1000, chunk
    path = tmp_path / "f"
    path.write_bytes(data)
    assert all(masker.file_has_secret(path, chunk_bytes=c) for c in range(1, 40))


@settings(max_examples=300, deadline=None)
@given(
    text=st.binary(max_size=120).map(lambda b: bytes(c % 3 + 97 for c in b)),
    secrets=st.lists(
        st.binary(min_size=1, max_size=6).map(lambda b: bytes(c % 3 + 97 for c in b)),
        min_size=1,
        max_size=3,
    ),
    chunk=st.integers(min_value=1, max_value=20),
)
def test_streaming_matches_masking_the_whole_text(
    text: bytes, secrets: list[bytes], chunk: int
) -> None:
    masker = SecretMasker([s.decode() for s in secrets])
    sink = io.BytesIO()
    masker.mask_stream(io.BytesIO(text), sink, chunk_bytes=chunk)
    expected = reference_mask(text, secrets)
    assert sink.getvalue() == expected
    assert masker.mask_text(text.decode()) == expected.decode()
