"""The result file name rule: every accepted name is a plain file name on every platform."""

from __future__ import annotations

import ntpath
import posixpath
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from agnt_models import (
    MAX_RESULT_FILE_NAME_BYTES,
    ResultFileName,
    check_result_name,
    check_result_names,
    content_disposition,
    result_name_key,
    result_name_problem,
)

NFC_E = "\u00e9"
NFD_E = "e\u0301"

# Text biased towards what breaks file names: drives, devices, separators, dots, spaces.
tricky = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("CcOoNnPpRrAaUuXxLlTtMm0123456789¹.: /\\$|*?<>\"'\t\n")),
        st.sampled_from([NFC_E, "e", "\u0301", "\u202e", "\u200b", "ß", "K", "\u212a", "ı", "İ"]),
        st.characters(),
    ),
    max_size=12,
)
names = st.one_of(tricky, st.text(max_size=300))


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("D:evil.bat", "':'"),
        ("C:x", "':'"),
        ("a.txt:stream", "':'"),
        ("CON", "reserved device"),
        ("con.txt", "reserved device"),
        ("Lpt1.tar.gz", "reserved device"),
        ("nul ", "ends with a dot or a space"),
        ("NUL .txt", "reserved device"),
        ("x.txt. ", "ends with a dot or a space"),
        ("x.", "ends with a dot or a space"),
        ("..", "ends with a dot or a space"),
        (".", "ends with a dot or a space"),
        ("", "empty"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("what?.txt", "'?'"),
        ("tab\there", "U+0009"),
        ("nul\x00byte", "U+0000"),
        ("evil\u202etxt.exe", "U+202E"),
        (NFD_E + ".txt", "NFC"),
        ("a" * 256, "256 bytes"),
        (NFC_E * 128, "256 bytes"),
        ("\ud800.txt", "surrogate"),
    ],
)
def test_names_that_are_unsafe_somewhere_are_refused_with_the_reason(
    name: str, problem: str
) -> None:
    found = result_name_problem(name)
    assert found is not None and problem in found
    with pytest.raises(ValueError, match="invalid result file name"):
        check_result_name(name)
    with pytest.raises(ValidationError):
        TypeAdapter(ResultFileName).validate_python(name)


@pytest.mark.parametrize(
    "name",
    ["report.md", ".env", "notes é.txt", "a" * 255, NFC_E * 127 + "a", "CONSOLE.txt", "com10"],
)
def test_plain_names_are_accepted(name: str) -> None:
    assert result_name_problem(name) is None
    assert TypeAdapter(ResultFileName).validate_python(name) == name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("A.txt", "a.txt"),
        ("same", "same"),
        ("STRASSE", "straße"),
        ("ı.txt", "I.TXT"),
        ("\u00c9T\u00c9.txt", "\u00e9t\u00e9.txt"),
    ],
)
def test_two_names_of_one_file_on_some_file_system_are_refused(first: str, second: str) -> None:
    check_result_names([first])
    check_result_names([second])
    with pytest.raises(ValueError, match=repr(second)):
        check_result_names(["other.txt", first, second])


def test_two_normalizations_of_one_name_are_one_name() -> None:
    assert result_name_key(NFD_E + ".txt") == result_name_key(NFC_E.upper() + ".TXT")
    with pytest.raises(ValueError, match="NFC"):
        check_result_names([NFC_E + ".txt", NFD_E + ".txt"])


@given(name=names)
def test_every_accepted_name_is_one_plain_file_in_the_folder_on_every_platform(name: str) -> None:
    if result_name_problem(name) is not None:
        return
    for paths in (posixpath, ntpath):
        joined = paths.join("out", name)
        assert paths.dirname(joined) == "out"
        assert paths.basename(joined) == name
        assert not paths.isabs(name)
        assert paths.normpath(joined) == joined
    assert ntpath.splitdrive(name) == ("", name)
    assert name not in (".", "..") and name.rstrip(". ") == name
    assert len(name.encode("utf-8")) <= MAX_RESULT_FILE_NAME_BYTES
    assert unicodedata.normalize("NFC", name) == name
    assert all(unicodedata.category(c)[0] != "C" for c in name)
    assert name.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@given(batch=st.lists(names, max_size=6))
def test_an_accepted_result_has_names_distinct_under_case_folding(batch: list[str]) -> None:
    try:
        check_result_names(batch)
    except ValueError:
        return
    assert len({unicodedata.normalize("NFC", n).casefold() for n in batch}) == len(batch)
    assert len({n.upper() for n in batch}) == len(batch)


@given(name=names)
def test_content_disposition_is_an_ascii_header_that_names_the_file(name: str) -> None:
    if result_name_problem(name) is not None:
        return
    header = content_disposition(name)
    assert header.isascii() and header.isprintable()
    assert header.startswith('attachment; filename="')
    assert header.count('"') == 2


def test_content_disposition_keeps_the_exact_name_in_filename_star() -> None:
    header = content_disposition('notes é "x".txt')
    assert header == (
        "attachment; filename=\"notes _ _x_.txt\"; filename*=UTF-8''notes%20%C3%A9%20%22x%22.txt"
    )


def test_content_disposition_keeps_the_ascii_fallback_quotable() -> None:
    assert (
        content_disposition('a"b\\c.txt')
        == "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a%22b%5Cc.txt"
    )
