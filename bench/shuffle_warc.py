"""Write a WARC's records in a random order (the result must not depend on arrival order).

    .venv/bin/python bench/shuffle_warc.py IN.warc.gz OUT.warc.gz [--seed 1]
"""

from __future__ import annotations

import argparse
import io
import random

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("target")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with open(args.source, "rb") as stream:
        records = []
        for record in ArchiveIterator(stream):
            # The payload is read now: the iterator's stream moves on with the next record.
            records.append((record.rec_type, record.rec_headers, record.http_headers, record.content_stream().read()))
    random.Random(args.seed).shuffle(records)
    with open(args.target, "wb") as out:
        writer = WARCWriter(out, gzip=args.target.endswith(".gz"))
        for rec_type, rec_headers, http_headers, payload in records:
            record = writer.create_warc_record(
                rec_headers.get_header("WARC-Target-URI"), rec_type, payload=io.BytesIO(payload), http_headers=http_headers,
                warc_headers_dict=dict(rec_headers.headers),
            )
            writer.write_record(record)
    print(f"{len(records)} records written to {args.target} in a random order (seed {args.seed})")


if __name__ == "__main__":
    main()
