"""Rows out: aligned tables with feed data made harmless, JSON lines, CSV."""

from __future__ import annotations

import csv
import errno
import io
import json
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tracker.answers.output import (
    Column,
    csv_text,
    delay,
    duration,
    escape_control,
    json_lines,
    render,
    table,
    write_file,
    write_stdout,
)
from tracker.errors import InputError, StoreError


def test_control_characters_and_bidi_overrides_are_escaped() -> None:
    assert escape_control("Evil\x1b[2J\x07Corp") == "Evil\\x1b[2J\\x07Corp"
    assert escape_control("a\nb\tc\rd\x7f\x9b") == "a\\x0ab\\x09c\\x0dd\\x7f\\x9b"
    assert escape_control("abc\u202edcba") == "abc\\u202edcba"
    assert escape_control("Кабул — خبر 新闻") == "Кабул — خبر 新闻"


def test_table_aligns_escapes_and_truncates() -> None:
    rows = [{"name": "a\x1b]0;pwned\x07", "n": 5}, {"name": "longer name here", "n": 12345}]
    out = table(rows, [Column("name", "name", width=12), Column("n", "count", right=True)])
    lines = out.splitlines()
    assert "\x1b" not in out and "\x07" not in out
    assert lines[0] == "name          count"
    assert lines[1] == "a\\x1b]0;pwn…      5"
    assert lines[2] == "longer name…  12345"
    assert table([], [Column("n", "n")], empty="nothing here") == "nothing here"


def test_json_lines_and_csv_keep_every_key_in_order() -> None:
    when = datetime(2025, 1, 7, 9, 0, 0, 123456)
    rows = [{"b": 1, "a": when, "tags": ["x", "y"], "evidence": {"k": [1]}, "none": None, "flag": True}]
    line = json_lines(rows)
    assert list(json.loads(line)) == ["b", "a", "tags", "evidence", "none", "flag"]
    assert json.loads(line)["a"] == "2025-01-07T09:00:00Z"
    back = list(csv.DictReader(io.StringIO(csv_text(rows))))
    assert back == [{"b": "1", "a": "2025-01-07T09:00:00Z", "tags": "x; y", "evidence": '{"k": [1]}', "none": "", "flag": "true"}]
    assert csv_text([], ["a", "b"]) == "a,b\r\n"  # a header even with no rows
    assert render([], "json", []) == ""


@pytest.mark.parametrize(("seconds", "text"), [(45, "45s after"), (720, "12m after"), (3 * 3600 + 300, "3h 5m after"),
                                               (2 * 86400 + 4 * 3600, "2d 4h after"), (-90, "1m before"), (7200, "2h after"),
                                               (None, "")])
def test_delays_read_like_a_person_wrote_them(seconds: int | None, text: str) -> None:
    # Graph edges and the report say delays as the tables do: one duration formatter.
    assert delay(seconds) == text


def test_a_time_for_people_is_one_form_in_utc_with_a_z() -> None:
    from datetime import timedelta, timezone

    from tracker.timefmt import when

    naive = datetime(2025, 1, 7, 8, 0, 0, 999999)  # naive is UTC, as the database holds it
    kabul = datetime(2025, 1, 7, 12, 30, tzinfo=timezone(timedelta(hours=4, minutes=30)))
    assert when(naive) == when(kabul) == when("2025-01-07T08:00:00Z") == "2025-01-07 08:00:00Z"
    assert when(None) == "unknown" and when(None, "—") == "—"
    # A table shows a time in that form, JSON and CSV in ISO 8601 (test above).
    rows = [{"at": naive}, {"at": None}]
    assert table(rows, [Column("at", "published")]).splitlines() == ["published", "2025-01-07 08:00:00Z"]


def test_durations_read_like_people_write_them() -> None:
    assert duration(None) == ""
    assert duration(40) == "40s"
    assert duration(9900) == "2h 45m"
    assert duration(3 * 86400 + 3600 + 60) == "3d 1h"
    assert duration(-120) == "-2m"


class _Trickle(io.RawIOBase):
    """An unbuffered standard output that takes at most 7 bytes a write (as a pipe or a
    nearly full disk may)."""

    def __init__(self) -> None:
        self.got = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
        self.got += bytes(data[:7])
        return min(len(data), 7)


def test_standard_output_gets_every_byte_when_each_write_takes_only_part(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _Trickle()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw))  # type: ignore[arg-type]
    write_stdout(b"x" * 100 + b"end")
    assert bytes(raw.got) == b"x" * 100 + b"end"


def _disk_fills_after(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing more than `limit` bytes writes that much, then fails as a full disk does."""
    def write_bytes(self: Path, data: bytes) -> int:
        with self.open("wb") as handle:
            handle.write(data[:limit])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_full_disk_leaves_the_old_file_whole_and_no_scratch_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "export.json"
    out.write_bytes(b"the export of yesterday")
    _disk_fills_after(5, monkeypatch)
    with pytest.raises(StoreError, match=f"cannot write {out} \\(No space left on device\\)"):
        write_file(out, b"the export of today, longer")
    assert out.read_bytes() == b"the export of yesterday"
    assert list(tmp_path.iterdir()) == [out]


def test_a_path_that_cannot_be_a_file_is_the_users_mistake(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--out: cannot write .*no-such-folder/e.json"):
        write_file(tmp_path / "no-such-folder" / "e.json", b"data")
    with pytest.raises(InputError, match="--out: cannot write"):
        write_file(tmp_path, b"data")  # a folder
