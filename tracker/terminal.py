"""Text safe to show: the one rule for control characters, used by every output.

Feed data (titles, publisher names, URLs, error messages quoting a server) is written by
strangers. An ANSI escape sequence in a title could clear the screen, recolour it, set
the window title or hide a line; a bidi override (U+202E) could make `exe.txt` read
`txt.exe`, in a terminal, a spreadsheet or an editor. So every output — terminal tables
and messages, logs, CSV, PROV-N, SVG labels, alert files — shows these characters
escaped (`\\x1b`, `\\u202e`, `\\U000e0001`), never emits them; JSON outputs write them
as JSON `\\u` escapes instead, so that a JSON reader still gets the exact text.

Escaped: C0 controls (but tab and newline, which layout uses, in `safe`), DEL, C1
controls, the line and paragraph separators, lone surrogates, U+FFFE/U+FFFF, and every Unicode format
character (category Cf: bidi marks, embeddings, overrides and isolates, invisible
operators, tag characters…) except ZERO WIDTH NON-JOINER and JOINER (U+200C, U+200D),
which Persian, Indic and emoji text need to be spelt right.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

# Category Cf as of Unicode 15.1, less U+200C/U+200D (tests/test_terminal.py checks this
# covers the running Python's Unicode database), plus the Zl/Zp separators, surrogates and
# U+FFFE/U+FFFF (XML cannot carry them: an SVG label holding one would not parse).
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f\u2028-\u202e"
    "\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\ufffe\uffff\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_FORMAT}]")
# In a value that must stay on one line, newlines and tabs are escaped too.
_UNSAFE_INLINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_FORMAT}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells a character beyond the BMP as a UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


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
    """A JSON document with the characters JSON lets through raw (DEL, C1 controls, bidi
    and other format characters, separators) written as \\u escapes: still valid JSON
    that decodes to the exact text, now safe to print or open in an editor."""
    return _UNSAFE.sub(_json_escape, text)
