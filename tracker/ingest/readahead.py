"""What the ingest's parser process does besides parsing: it reads each entry's body as
paragraphs (`read_body`, HTML to text: a tenth of the storing process's time at 1M items),
so that the storing process, the busier of the two, finds it done. (Paragraphs and credits
only: their tokens are made where they are used, 10 times the text's size in memory.)

Only an entry this process has not seen before in its feed is read: a feed lists the same
entries capture after capture, and a stored entry seen again needs no text. The storing
process reads any entry it finds without one (an unread entry, one whose reading failed).
(The reader's entry memory, `tracker.reader.entrymemory`, knows which entries it parsed
again only for the documents it can cut into entries: a raw hash serves every format.)
This module imports the parser's and the reader's stages only: the parser process never
loads the database layer.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

from tracker.detection.identity import raw_hash
from tracker.detection.normalise import read_body
from tracker.errors import ParseError
from tracker.model import ParsedFeed
from tracker.reader.parse import parse_capture_body

# The entries read lately, by a hash of (feed, raw hash): some 150 bytes each, 15 MB at most.
# (Two entries of one hash: the second is left to the storing process.)
SEEN_ENTRIES = 100_000
_seen: OrderedDict[int, None] = OrderedDict()


def parse_and_read(
    body: bytes | None, content_type: str | None, captured_at: datetime | None = None, feed_url: str | None = None,
) -> ParsedFeed | ParseError | None:
    """`parse_capture_body`, with the bodies of the entries not seen before in this feed read."""
    parsed = parse_capture_body(body, content_type, captured_at, feed_url)
    if not isinstance(parsed, ParsedFeed):
        return parsed
    entries = []
    for entry in parsed.entries:
        key = hash((feed_url, raw_hash(entry)))
        if key in _seen:
            _seen.move_to_end(key)
            entries.append(entry)
            continue
        _seen[key] = None
        if len(_seen) > SEEN_ENTRIES:
            _seen.popitem(last=False)
        try:
            entries.append(replace(entry, read_body=read_body(entry)))
        except Exception:  # noqa: BLE001 (whatever a hostile body makes an HTML reader raise: the storer reports it)
            entries.append(entry)
    return replace(parsed, entries=tuple(entries))
