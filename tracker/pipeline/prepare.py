"""What a capture's storing needs and no database holds, worked out ahead in a parser process.

`tracker ingest` parses captures in another process while this one stores the previous
ones (`tracker.ingest.archives.parse_ahead`). Reading an entry's HTML as paragraphs is a
pure function of the entry and a tenth of the storing process's time: the parser process
does it too, for each entry it has not read before, and the storing process takes the
document it is handed (`ParsedEntry.document`) instead of reading the entry again.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tracker.detection.identity import raw_hash
from tracker.detection.normalise import to_document
from tracker.errors import ParseError
from tracker.model import ParsedFeed
from tracker.reader.parse import parse_capture_body

# Entries this process has read (raw hashes): an archive lists an entry again in every
# capture of its feed, and only its first reading can be of use. Forgotten past this many.
_REMEMBERED = 100_000
_read_already: set[str] = set()


def parse_and_read(
    body: bytes | None, content_type: str | None, captured_at: datetime | None = None, feed_url: str | None = None,
) -> ParsedFeed | ParseError | None:
    """`parse_capture_body`, with each entry this process has not read before given its
    document (for a parser process: the storing process reads the others itself)."""
    parsed = parse_capture_body(body, content_type, captured_at, feed_url)
    if not isinstance(parsed, ParsedFeed):
        return parsed
    if len(_read_already) > _REMEMBERED:
        _read_already.clear()
    return with_documents(parsed, _read_already)


def with_documents(parsed: ParsedFeed, read_already: set[str]) -> ParsedFeed:
    """The feed with a document on each entry whose raw hash is not in `read_already`
    (which learns them). An entry whose body cannot be read keeps none: the storing process
    reads it again and reports why."""
    entries = []
    for entry in parsed.entries:
        digest = raw_hash(entry)
        if entry.document is not None or digest in read_already:
            entries.append(entry)
            continue
        read_already.add(digest)
        try:
            entries.append(replace(entry, document=to_document(entry)))
        except Exception:  # noqa: BLE001 (whatever a hostile body makes an HTML reader raise: reported when stored)
            entries.append(entry)
    return replace(parsed, entries=tuple(entries))
