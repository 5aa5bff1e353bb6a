"""Text from outside (form fields, file names, metadata inside files) made fit for PostgreSQL.

PostgreSQL's `text` and `jsonb` refuse the NUL character and anything that is not valid
UTF-8 (in Python: lone surrogates, which `json.loads` and `surrogateescape` produce). One such
character in one upload used to fail the whole import batch for ever. Text is cleaned once,
where it enters the system (the gateway's form fields, the metadata reader's output); raw
bytes, where kept, stay as they were.
"""

from __future__ import annotations

import math
from typing import Any

REPLACEMENT = "\ufffd"


def clean_text(value: str) -> str:
    """`value` without NUL characters and with every lone surrogate replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # through UTF-16: a surrogate pair becomes its character, a lone surrogate one U+FFFD
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def clean_optional(value: str | None) -> str | None:
    return None if value is None else clean_text(value)


def clean_json(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string and key cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def printable_json(value: Any) -> Any:
    """`clean_json`, and the non-finite floats Python's JSON reader accepts (NaN, Infinity) written as
    text: a value strict JSON can always carry (e.g. the input a 422 echoes back)."""
    value = clean_json(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: printable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_json(v) for v in value]
    return value


def ascii_digits(text: str) -> bool:
    """Only 0-9, so `int(text)` takes it: `str.isdigit()` alone also takes "²", which `int()` refuses."""
    return text.isascii() and text.isdigit()
