"""Terminal safety: what reaches a terminal never carries a control sequence from a feed."""

from __future__ import annotations

import io
import json
import logging

import pytest

from tracker.logs import JsonFormatter, TextFormatter, fields
from tracker.terminal import echo, inline, json_line, safe


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),                 # clear the screen
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),          # set the window title
        ("a\x9b31mb", "a\\x9b31mb"),                         # C1 CSI
        ("\x00\x08\x7f", "\\x00\\x08\\x7f"),
        ("abc\u202etxt.exe", "abc\\u202etxt.exe"),           # right-to-left override
        ("\u2066x\u2069 \u200f", "\\u2066x\\u2069 \\u200f"),  # isolates, RLM
        ("Kabul — کابل — 喀布尔", "Kabul — کابل — 喀布尔"),   # ordinary text of every script is untouched
    ],
)
def test_control_characters_are_shown_escaped(raw: str, shown: str) -> None:
    assert safe(raw) == shown
    assert inline(raw) == shown


def test_layout_newlines_stay_but_inline_values_are_one_line() -> None:
    assert safe("line one\n\tline two\r") == "line one\n\tline two\\x0d"
    assert inline("title\nForged: line") == "title\\x0aForged: line"


def test_echo_writes_the_escaped_text() -> None:
    out = io.StringIO()
    echo("title \x1b[31mred", stream=out)
    assert out.getvalue() == "title \\x1b[31mred\n"


def _record(message: str, **values: object) -> logging.LogRecord:
    record = logging.LogRecord("tracker.test", logging.WARNING, __file__, 1, message, (), None)
    record.__dict__.update(fields(**values))
    return record


def test_text_log_lines_are_one_line_without_control_characters() -> None:
    line = TextFormatter().format(_record("feed \x1b[2J\nfake line", title="\u202eevil"))
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert "feed \\x1b[2J\\x0afake line" in line


def test_json_log_lines_stay_valid_json_and_carry_no_raw_controls() -> None:
    line = JsonFormatter().format(_record("poll", title="a\x1b[2J\u202e\x85b"))
    assert not any(c in line for c in "\x1b\u202e\x85")
    assert json.loads(line)["title"] == "a\x1b[2J\u202e\x85b"
    assert json.loads(json_line('{"t": "\u2028"}')) == {"t": "\u2028"}


def test_every_unicode_format_character_is_escaped_but_the_joiners_text_needs() -> None:
    import sys
    import unicodedata

    kept = {"\u200c", "\u200d"}  # ZWNJ and ZWJ spell Persian, Indic and emoji text
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Cf" and char not in kept:
            assert safe(char) != char and inline(char) != char, f"U+{code:04X} passes raw"
            assert json.loads(json_line(json.dumps(char, ensure_ascii=False))) == char
            assert char not in json_line(json.dumps(char, ensure_ascii=False))
    assert safe("ن\u200cم 👩\u200d💻") == "ن\u200cم 👩\u200d💻"
    assert safe("\U000e0041") == "\\U000e0041"
