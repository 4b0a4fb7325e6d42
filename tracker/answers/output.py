"""Rows out in the format asked for: an aligned table, JSON lines, or CSV.

Every query command hands this module a list of plain dicts (keys in a stable order,
shaped like the view rows) and a few column specs for the table. JSON lines and CSV
carry every key; the table shows the columns a person reads first. Times are UTC with a
`Z` everywhere: ISO 8601 in JSON lines and CSV (`timefmt.iso`), "2025-01-07 08:00:00Z" in
a table (`timefmt.when`, as in every text for people). In a table and in CSV, feed data
(titles, names, URLs) has its control characters escaped so that a hostile feed cannot
move the cursor or clear the screen, and CSV cells are made inert for spreadsheets
(`spreadsheet_cell`).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.errors import InputError, StoreError
from tracker.terminal import inline, json_line, safe
from tracker.timefmt import iso, when

# The one list of each command family's formats: the CLI offers exactly these, and the
# modules that write them (here, tracker.export, tracker.graph) refuse anything else.
FORMATS = ("table", "json", "csv")  # query commands' rows
EXPORT_FORMATS = ("prov-json", "prov-n", "jsonl", "csv")  # tracker export
PICTURE_FORMATS = ("dot", "svg", "png", "mermaid")  # tracker graph
Row = dict[str, Any]



def escape_control(text: str) -> str:
    """Printable text: controls, DEL, bidi overrides and line separators become visible escapes."""
    return inline(text)


def duration(seconds: float | None, plus: bool = False, parts: int = 2) -> str:
    """Seconds as "2h 5m", "40s", "3d 1h" (at most `parts` units); negative with a minus
    sign, positive with a plus when `plus`; empty when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    sign = "-" if seconds < 0 else "+" if plus else ""
    rest = round(abs(seconds))
    days, rest = divmod(rest, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n][:parts]
    return sign + (" ".join(units) if units else f"{secs}s")


def delay(seconds: float | None) -> str:
    """How long after (or before) something else: "3h 5m after", "45s after", "1m before"; empty when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    return f"{duration(abs(seconds))} {'before' if seconds < 0 else 'after'}"


def counted(count: int, noun: str) -> str:
    """"1 item", "2 items": a count with its noun, singular or plural."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _plain(value: Any) -> Any:
    """A value as JSON has it: times ISO, tuples lists."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    """A value as text: empty for NULL, lists joined with "; ", objects as JSON."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json_line(json.dumps(value, ensure_ascii=False, sort_keys=True))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# What a spreadsheet takes for the start of a formula (OWASP "CSV injection").
_FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> str:
    """A value as every CSV the tracker writes has it: inert when a spreadsheet opens it.

    Numbers stay numbers. Any other text starting with `=`, `+`, `-`, `@`, tab or CR (a
    title such as `=HYPERLINK(…)`) gets a leading `'`, so that Excel, LibreOffice and
    Sheets show it as text instead of evaluating it; control and bidi characters are shown
    escaped (tracker.terminal), as everywhere else.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _cell(value)
    text = safe(_cell(value))
    return "'" + text if text.startswith(_FORMULA_LEADERS) else text


@dataclass(frozen=True)
class Column:
    """A table column: which key, its header, how to show a value, right-aligned or not."""

    key: str
    header: str
    show: Callable[[Any], str] | None = None
    right: bool = False
    width: int | None = None

    def text(self, row: Row) -> str:
        value = row.get(self.key)
        if self.show:
            shown = self.show(value)
        else:  # a time as people read it, everything else as CSV has it
            shown = when(value, "") if isinstance(value, datetime) else _cell(value)
        shown = escape_control(shown)
        if self.width and len(shown) > self.width:
            shown = shown[: self.width - 1] + "…"
        return shown


def percent(v: Any) -> str:
    """Show a share 0…1 as a percentage."""
    return "" if v is None else f"{100 * float(v):.0f}%"


def table(rows: Sequence[Row], columns: Sequence[Column], empty: str = "nothing found") -> str:
    """An aligned plain-text table with a header line."""
    if not rows:
        return empty
    cells = [[c.header for c in columns]] + [[c.text(row) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for line in cells:
        parts = [cell.rjust(w) if col.right else cell.ljust(w) for cell, w, col in zip(line, widths, columns, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def json_lines(rows: Sequence[Row]) -> str:
    """One JSON object per line, keys in the rows' order; characters that could steer a
    terminal (bidi overrides, C1 controls) as \\u escapes, so the lines are safe to print."""
    return "\n".join(json_line(json.dumps(_plain(row), ensure_ascii=False)) for row in rows)


def csv_text(rows: Sequence[Row], keys: Sequence[str] | None = None) -> str:
    """CSV with a header line of every key (RFC 4180 quoting, \\r\\n line ends); every
    cell made inert for spreadsheets by `spreadsheet_cell`."""
    keys = list(keys or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(keys)
    for row in rows:
        writer.writerow([spreadsheet_cell(row.get(k)) for k in keys])
    return buffer.getvalue()


def render(rows: Sequence[Row], fmt: str, columns: Sequence[Column], keys: Sequence[str] | None = None,
           empty: str = "nothing found") -> str:
    """`rows` as `fmt` ("table", "json" or "csv"); `keys` fixes the CSV header when there may be no rows."""
    if fmt == "json":
        return json_lines(rows)
    if fmt == "csv":
        return csv_text(rows, keys)
    return table(rows, columns, empty)


# A path that cannot be a file is the user's mistake (exit 2); any other failure is the disk's (exit 3).
_BAD_PATH = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG)


def write_file(path: Path, data: bytes, option: str = "--out") -> None:
    """Replace the file at `path` with `data`, whole: written beside it and renamed, so that
    a failure (a full disk) leaves the old file or none, never part of one nor the scratch
    file. InputError (naming `option`) for a path that cannot be a file, StoreError when the
    disk fails or refuses."""
    scratch = path.with_name(path.name + ".tmp")
    try:
        scratch.write_bytes(data)
        scratch.replace(path)
    except OSError as error:
        scratch.unlink(missing_ok=True)
        problem = f"cannot write {path} ({error.strerror})"
        raise (InputError(f"{option}: {problem}") if error.errno in _BAD_PATH else StoreError(problem)) from None


def write_stdout(data: bytes) -> None:
    """`data` to standard output, all of it: unbuffered (PYTHONUNBUFFERED), one write may
    take only part, and the rest would be lost without a word."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    view = memoryview(data)
    while view:
        written = out.write(view)
        view = view[written if written is not None else len(view):]
    out.flush()
