"""Printing to a terminal safely: every line the CLI writes passes through `safe`.

Feed data (titles, publisher names, URLs, error messages quoting a server) is written by
strangers. An ANSI escape sequence in a title could clear the screen, recolour it, set
the window title or hide a line; a bidi override could make a URL read backwards. So
control characters are shown escaped (`\\x1b`, `\\u202e`), never emitted.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

# C0 controls (but tab and newline, which our own layout uses), DEL, C1 controls, and
# the Unicode format characters that reorder or hide text: bidi embeddings, overrides
# and isolates, the Arabic letter mark, the line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# In a value that must stay on one line, newlines and tabs are escaped too.
_UNSAFE_INLINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(text: object) -> str:
    """`text` with every control character shown escaped; newlines and tabs kept."""
    return _UNSAFE.sub(_escape, str(text))


def inline(text: object) -> str:
    """`text` escaped for one line of output: newlines and tabs escaped as well."""
    return _UNSAFE_INLINE.sub(_escape, str(text))


def echo(text: object = "", err: bool = False, stream: TextIO | None = None) -> None:
    """Print one message (a line, or a block of lines) with control characters escaped."""
    out = stream or (sys.stderr if err else sys.stdout)
    out.write(safe(text) + "\n")
    out.flush()


def json_line(text: str) -> str:
    """A JSON document with the control characters JSON lets through raw (C1 controls,
    bidi and line separators) written as \\u escapes: still valid JSON, now safe to print."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
