"""Benchmark: peak memory of ingesting and polling oversized inputs.

    python bench/memory_bench.py [--code DIR] [--only NAME ...]

Each case runs `tracker ingest` (or `tracker poll`) as a process of its own on a fresh
SQLite database and samples the resident memory of its whole process tree (the parser
processes included) from /proc every 10 ms; the figure printed is the peak of that sum,
or the largest single process's peak (wait4) when that is higher. The target for every
case is under 500 MiB.

Cases (each WARC starts with a small capture, so that the parser process runs as on any
real archive): one 50 MB entry in a WARC capture; a 20,000-entry feed; a 60 MB WARC record (60
entries of 1 MB); a 60 MB JSON Feed of tiny arrays; a 9 MB body served over HTTP and polled (`tracker poll`, under the
10 MiB fetch cap).

`--code DIR` runs another checkout's `tracker` package (PYTHONPATH=DIR), e.g. `--code
/work/main` for the figures before a change.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MIB = 500
FEED = "https://big.example/feed.xml"
_WORDS = [
    "".join(random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(3 + i % 7)) for i in range(20000)
]


def _paragraphs(size: int, seed: int) -> Iterator[str]:
    """HTML paragraphs of varied words until `size` characters: little repeats, as in real text."""
    rng = random.Random(seed)
    written = 0
    while written < size:
        words = rng.choices(_WORDS, k=60)
        paragraph = "<p>" + " ".join(words) + ".</p>\n"
        written += len(paragraph)
        yield paragraph


def _entry(n: int, size: int, host: str) -> str:
    body = "".join(_paragraphs(size, n)).replace("]]>", "")
    return (
        f"<item><title>Story {n}</title><link>{host}/{n}</link><guid>{host}/{n}</guid>"
        f"<pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate><description><![CDATA[{body}]]></description></item>\n"
    )


def feed(entries: int, entry_size: int, host: str = "https://big.example") -> bytes:
    """An RSS feed of `entries` entries of about `entry_size` characters of HTML each."""
    items = "".join(_entry(n, entry_size, host) for n in range(entries))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{host}</title>'
            f"<link>{host}/</link>{items}</channel></rss>\n").encode()


def write_warc(path: Path, body: bytes) -> None:
    """A small capture of another feed (so that the ingest starts its parser process, as
    on any real archive), then one response record of FEED holding `body`."""
    with path.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True)
        for url, payload, date in (("https://small.example/feed.xml", feed(3, 2000, "https://small.example"), "2024-01-01T00:00:00Z"),
                                   (FEED, body, "2024-01-02T00:00:00Z")):
            http = StatusAndHeaders("200 OK", [("Content-Type", "application/rss+xml"), ("Content-Length", str(len(payload)))],
                                    protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http,
                                               warc_headers_dict={"WARC-Date": date})
            writer.write_record(record)


def _tree_rss(root: int) -> dict[int, int]:
    """Resident bytes of `root` and of every descendant, by pid, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        tree[pid] = rss.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return tree


def peak(command: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Peak MiB of the process tree, of its largest process, wall seconds and the last line
    of output of `command`."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    highest = largest = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal highest, largest
        while not done.is_set():
            tree = _tree_rss(process.pid)
            highest = max(highest, sum(tree.values()))
            largest = max(largest, *tree.values())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read().decode(errors="replace") if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - start
    if status != 0 and os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"failed ({status}): {' '.join(command)}\n{output}")
    lines = [line for line in output.strip().splitlines() if line.strip()]
    largest = max(largest, usage.ru_maxrss * 1024)
    return max(highest, largest) / 2**20, largest / 2**20, seconds, (lines[-1] if lines else "")[:100]


class _Serve(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, default=None, help="run the tracker package of this checkout")
    parser.add_argument("--only", nargs="*", default=None, help="cases to run (entry50, feed20k, record60, json60, poll9)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    python = [sys.executable, "-P", "-m", "tracker"]
    code = args.code or ROOT
    print(f"tracker code: {code} ({subprocess.run(['git', '-C', str(code), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()})")
    results: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        cases = {
            "entry50": ("one 50 MB entry (WARC capture)", lambda: feed(1, 50 * 2**20)),
            "feed20k": ("a 20,000-entry feed (WARC capture)", lambda: feed(20000, 1500)),
            "record60": ("a 60 MB WARC record (60 entries of 1 MB)", lambda: feed(60, 2**20)),
            "json60": ("a 60 MB JSON Feed of tiny arrays", lambda: b'{"version": "https://jsonfeed.org/version/1.1", '
                       b'"title": "x", "items": [' + b"[]," * (20 * 2**20) + b"[]]}"),
        }
        for name, (label, make) in cases.items():
            if args.only is not None and name not in args.only:
                continue
            warc = scratch / f"{name}.warc.gz"
            body = make()
            write_warc(warc, body)
            size = len(body)
            del body
            config = scratch / f"{name}.toml"
            config.write_text(f'[database]\nurl = "sqlite:///{scratch / name}.sqlite3"\n')
            mib, one, seconds, last = peak([*python, "--config", str(config), "ingest", "--no-progress", str(warc)], env)
            results.append((label, mib))
            print(f"{label:<42} {size / 2**20:5.1f} MB  peak {mib:7.1f} MiB (largest process {one:6.1f})  {seconds:6.1f} s  | {last}",
                  flush=True)
        if args.only is None or "poll9" in args.only:
            results.append(poll_case(scratch, python, env))
    worst = max((mib for _, mib in results), default=0.0)
    print(f"largest peak: {worst:.1f} MiB (target < {LIMIT_MIB} MiB): {'OK' if worst < LIMIT_MIB else 'OVER'}")


def poll_case(scratch: Path, python: list[str], env: dict[str, str]) -> tuple[str, float]:
    """`tracker poll` of a feed whose one entry is 9 MB, served on 127.0.0.1."""
    _Serve.body = feed(1, 9 * 2**20)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Serve)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    label = "poll of a 9 MB body (one entry)"
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
        config = scratch / "poll.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{scratch}/poll.sqlite3"\n\n[polling]\nallow_private_addresses = true\n\n'
            f'[[feeds]]\nurl = "{url}"\n'
        )
        mib, one, seconds, last = peak([*python, "--config", str(config), "poll", "--all"], env)
    finally:
        server.shutdown()
    print(f"{label:<42} {len(_Serve.body) / 2**20:5.1f} MB  peak {mib:7.1f} MiB (largest process {one:6.1f})  {seconds:6.1f} s  | {last}",
          flush=True)
    return label, mib


if __name__ == "__main__":
    print(f"memory bench, {datetime.now():%Y-%m-%d %H:%M}")
    main()
