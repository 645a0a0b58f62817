"""The one rule for a result file name, and the header that names a file in a download.

A result name is written to disk by buyers on Linux, macOS and Windows, so it must be a
plain file name on all three: no path, no drive, no device, nothing that Windows strips or
rewrites, and no two names of one result that one of these file systems treats as the same
file. The API refuses an upload that breaks the rule, the executor refuses to send one, and
the client refuses to write one, whatever the server says.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Annotated
from urllib.parse import quote

from pydantic import AfterValidator

MAX_RESULT_FILE_NAME_BYTES = 255
"""ext4, APFS and NTFS all hold 255 (UTF-8 bytes, or UTF-16 units, which are never more)."""

WINDOWS_FORBIDDEN_CHARACTERS = frozenset('<>:"/\\|?*')
"""Characters no Windows file name may hold (``:`` also opens an NTFS stream or a drive)."""

WINDOWS_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{device}{digit}" for device in ("COM", "LPT") for digit in "0123456789¹²³"]
)
"""Device names Windows opens instead of a file, whatever the extension (``con.txt``)."""

# Controls, format characters (bidi overrides that disguise an extension, zero-width
# characters), surrogates, private use, unassigned, and line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def result_name_problem(name: str) -> str | None:
    """Why ``name`` is not a portable result file name, or ``None`` when it is one."""
    if not name:
        return "the name is empty"
    if unicodedata.normalize("NFC", name) != name:
        return "the name is not in Unicode NFC form"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "the name holds a lone surrogate"
    if size > MAX_RESULT_FILE_NAME_BYTES:
        return f"the name is {size} bytes in UTF-8, more than {MAX_RESULT_FILE_NAME_BYTES}"
    for character in name:
        if character in WINDOWS_FORBIDDEN_CHARACTERS:
            return f"the name holds {character!r} (a path, drive or stream on some system)"
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            return f"the name holds the control or invisible character U+{ord(character):04X}"
    if name[-1] in ". ":
        return "the name ends with a dot or a space (Windows drops them)"
    if name.split(".", 1)[0].rstrip(" ").upper() in WINDOWS_RESERVED_NAMES:
        return "the name is a reserved device name on Windows"
    return None


def check_result_name(name: str) -> str:
    """``name`` itself if it is a portable result file name; else ``ValueError`` saying why."""
    problem = result_name_problem(name)
    if problem is not None:
        raise ValueError(f"invalid result file name {name!r}: {problem}")
    return name


ResultFileName = Annotated[str, AfterValidator(check_result_name)]
"""A result file name that is a plain, portable file name (see ``result_name_problem``)."""


def result_name_key(name: str) -> str:
    """What a case-insensitive, normalizing file system (NTFS, APFS) compares ``name`` by.

    Upper case first (NTFS compares upper-cased names: ``ı`` and ``i`` are both ``I``),
    then case folding (APFS folds: ``ß`` and ``ss`` are one name).
    """
    upper = unicodedata.normalize("NFC", name).upper()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", upper).casefold())


class ResultNames:
    """The names of one result, checked one by one as they arrive (a streamed upload)."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, name: str) -> None:
        """Accept ``name``, or ``ValueError`` if it breaks the rule or clashes with an earlier one."""
        check_result_name(name)
        key = result_name_key(name)
        earlier = self._seen.get(key)
        if earlier == name:
            raise ValueError(f"result file name {name!r} is sent twice")
        if earlier is not None:
            raise ValueError(
                f"result file names {earlier!r} and {name!r} are one file on a "
                "case-insensitive or normalizing file system"
            )
        self._seen[key] = name


def check_result_names(names: Iterable[str]) -> None:
    """``ValueError`` naming the first name of a result that is not portable or not unique."""
    seen = ResultNames()
    for name in names:
        seen.add(name)


def content_disposition(filename: str) -> str:
    """An RFC 6266 ``attachment`` header naming ``filename``: an ASCII fallback for old
    clients and the exact name as RFC 5987 ``filename*`` (UTF-8, percent-encoded)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
