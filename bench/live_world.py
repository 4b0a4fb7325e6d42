"""The daemon following a world live: are its items, pages and scores those of the offline ingest?

    python bench/live_world.py [--world /work/shared/worlds/summary-dev] [--minutes 4]

Replays a world's archive on 127.0.0.1 in compressed time: every feed capture of
`world.warc.gz` becomes visible at its WARC-Date scaled so the world's days last
`--minutes` (a failed capture is served as it failed, a `revisit` as the body before it),
and every article page of `pages/index.json` is served (ETag, Last-Modified, 304 on a
match) only from the time the archive shows it fetched (404 before). The world's hosts are
mapped to a loopback address at the connection (`socket.getaddrinfo`, as /etc/hosts would),
over TLS with a throwaway CA the fetcher is told to trust (SSL_CERT_FILE), so the URLs the
daemon fetches and stores are the world's own. The real Daemon runs in this process with
2 s polling; its fetches are dated in the world's time (see world_clock), so `[pages]`
keeps its default revisit_hours = 24 (of the world) and a page is asked again conditionally.
Then the database is scored with /work/shared/eval/score.py beside `tracker ingest` of the
same archive. Prints items stored vs truth, page fetches (200s, 304s, 404s, per page), scores.
Needs root or CAP_NET_BIND_SERVICE (it serves on ports 443 and 80 of 127.77.0.1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from warcio.archiveiterator import ArchiveIterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tracker.config import parse_config  # noqa: E402
from tracker.daemon.scheduler import Daemon  # noqa: E402

LOOPBACK = "127.77.0.1"  # not 127.0.0.1: ports 80/443 there may be someone else's
SCORE = Path("/work/shared/eval/score.py")


class Capture:
    """One feed capture: what the feed answered at `when` (seconds of world time)."""

    def __init__(self, when: float, status: int, headers: dict[str, str], body: bytes) -> None:
        self.when, self.status, self.headers, self.body = when, status, headers, body
        self.etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def load_world(warc: Path, feed_urls: set[str]) -> tuple[dict[str, list[Capture]], dict[str, float], float, float]:
    """Feed captures by URL (in time order), each page URL's first fetch time, and the world's span."""
    feeds: dict[str, list[Capture]] = defaultdict(list)
    pages: dict[str, float] = {}
    times: list[float] = []
    with warc.open("rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type not in ("response", "revisit"):
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            when = datetime.fromisoformat(record.rec_headers.get_header("WARC-Date").replace("Z", "+00:00")).timestamp()
            times.append(when)
            if url not in feed_urls:
                pages.setdefault(url, when)
                continue
            if record.rec_type == "revisit" and feeds[url]:
                last = feeds[url][-1]
                feeds[url].append(Capture(when, last.status, last.headers, last.body))
                record.content_stream().read()
                continue
            status = int(record.http_headers.get_statuscode() or 0) if record.http_headers else 200
            keep = ("Content-Type", "Location", "Retry-After")
            headers = {k: v for k, v in (record.http_headers.headers if record.http_headers else []) if k in keep}
            feeds[url].append(Capture(when, status, headers, record.content_stream().read()))
    return feeds, pages, min(times), max(times)


def first_linked(feeds: dict[str, list[Capture]], urls: set[str]) -> dict[str, float]:
    """When each of `urls` first appears in a served feed capture."""
    first: dict[str, float] = {}
    for capture in sorted((c for cs in feeds.values() for c in cs), key=lambda c: c.when):
        for raw in re.findall(rb"https?://[^\s<>\"']+", capture.body):
            url = raw.decode("utf-8", "replace")
            if url in urls:
                first.setdefault(url, capture.when)
    return first


class Farm:
    """Serves the world at `scale` world seconds per real second, counting every answer."""

    def __init__(self, feeds: dict[str, list[Capture]], pages: dict[str, tuple[Path, float]], start: float, scale: float) -> None:
        self.feeds, self.pages, self.world_start, self.scale = feeds, pages, start, scale
        self.began = time.monotonic()
        self.page_hits: dict[str, Counter[int]] = defaultdict(Counter)
        self.feed_hits: Counter[int] = Counter()
        self.other: Counter[int] = Counter()
        self.robots: Counter[int] = Counter()
        self.unknown: set[str] = set()
        self.lock = threading.Lock()
        self._page_cache: dict[str, tuple[bytes, str, str]] = {}

    def world_now(self) -> float:
        return self.world_start + (time.monotonic() - self.began) * self.scale

    def answer(self, url: str, headers: Any) -> tuple[int, dict[str, str], bytes, Counter[int]]:
        now = self.world_now()
        if url in self.feeds:
            shown = [c for c in self.feeds[url] if c.when <= now] or self.feeds[url][:1]
            capture = shown[-1]
            if capture.status == 200 and headers.get("If-None-Match") == capture.etag:
                return 304, {"ETag": capture.etag}, b"", self.feed_hits
            extra = {"ETag": capture.etag} if capture.status == 200 else {}
            return capture.status, {**capture.headers, **extra}, capture.body, self.feed_hits
        if url in self.pages:
            path, visible = self.pages[url]
            counter = self.page_hits[url]
            if now < visible:
                return 404, {}, b"not yet", counter
            body, etag, modified = self._page(url, path, visible)
            if headers.get("If-None-Match") == etag or headers.get("If-Modified-Since") == modified:
                return 304, {"ETag": etag, "Last-Modified": modified}, b"", counter
            return 200, {"Content-Type": "text/html; charset=utf-8", "ETag": etag, "Last-Modified": modified}, body, counter
        self.unknown.add(url)
        return 404, {}, b"no such page", self.robots if url.endswith("/robots.txt") else self.other

    def _page(self, url: str, path: Path, visible: float) -> tuple[bytes, str, str]:
        if url not in self._page_cache:
            body = path.read_bytes()
            modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(visible))
            self._page_cache[url] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"', modified)
        return self._page_cache[url]

    def serve(self, port: int, context: ssl.SSLContext | None) -> ThreadingHTTPServer:
        farm, scheme = self, "https" if context else "http"

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host = (self.headers.get("Host") or "").split(":")[0]
                status, headers, body, counter = farm.answer(f"{scheme}://{host}{self.path}", self.headers)
                with farm.lock:
                    counter[status] += 1
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        server.daemon_threads = True
        if context:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def make_certificates(hosts: set[str], scratch: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and one certificate naming every host (openssl, as an operator would)."""
    ca_key, ca, key, csr, cert = (scratch / n for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=live-world bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=live-world")
    ext = scratch / "leaf.ext"
    ext.write_text("basicConstraints=CA:FALSE\nauthorityKeyIdentifier=keyid\nsubjectAltName="
                   + ",".join(f"DNS:{h}" for h in sorted(hosts)) + "\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def map_hosts(hosts: set[str]) -> None:
    """Resolve the world's hosts to LOOPBACK in this process, as an /etc/hosts entry would."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower().rstrip(".") in hosts:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (LOOPBACK, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def world_clock(farm: Farm) -> None:
    """Date the daemon's fetches, and its choice of pages due, in the world's time.

    Offline, a capture is dated by its WARC-Date; live, by the fetcher's clock. Left on the
    wall clock, every live capture would come two years after the dates its entries claim
    and no capture could disprove a claim, so the two would not be deciding the same thing.
    Polling, leases and politeness stay on the wall clock (they are about real seconds).
    """
    import tracker.reader.fetch
    import tracker.daemon.pagefetch
    import tracker.daemon.pagework

    class WorldDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(farm.world_now(), tz)

    def world_utcnow() -> datetime:
        return datetime.fromtimestamp(farm.world_now(), UTC).replace(tzinfo=None)

    tracker.reader.fetch.datetime = WorldDatetime  # type: ignore[attr-defined,misc]
    tracker.daemon.pagework.utcnow = world_utcnow  # type: ignore[attr-defined]
    tracker.daemon.pagefetch.utcnow = world_utcnow  # type: ignore[attr-defined]


def score(world: Path, url: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, str(SCORE), str(world / "truth.jsonl"), "--db", url],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])


def offline(world: Path, scratch: Path) -> tuple[dict[str, float], float]:
    """`tracker ingest` of the same archive, in a database of its own."""
    url = f"sqlite:///{scratch / 'offline.sqlite3'}"
    config = scratch / "offline.toml"
    config.write_text((world / "feeds.toml").read_text() + f'\n[database]\nurl = "{url}"\n')
    started = time.perf_counter()
    subprocess.run([str(ROOT / ".venv/bin/tracker"), "--config", str(config), "ingest", str(world / "world.warc.gz")],
                   check=True, capture_output=True)
    return score(world, url), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=Path("/work/shared/worlds/summary-dev"))
    parser.add_argument("--minutes", type=float, default=4.0, help="real minutes the world's days last")
    parser.add_argument("--pages-from", choices=("archive", "entry"), default="archive",
                        help="a page is served from the archive's fetch of it, or from the first capture linking it")
    parser.add_argument("--drain", type=float, default=40.0, help="seconds after the world ends for the last pages")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    world, scratch = args.world, Path(tempfile.mkdtemp(prefix="tracker-liveworld-"))
    feed_list = tomllib.loads((world / "feeds.toml").read_text())["feeds"]
    feed_urls = {f["url"] for f in feed_list}
    feeds, fetched, start, end = load_world(world / "world.warc.gz", feed_urls)
    index = json.loads((world / "pages" / "index.json").read_text())
    # A page the archive never shows fetched is served from the start (none on summary-dev).
    pages = {u: (world / "pages" / f, fetched.get(u, start)) for u, f in index.items()}
    if args.pages_from == "entry":  # as a site would: live once its feed links it
        linked = first_linked(feeds, set(index))
        pages = {u: (path, min(when, linked.get(u, when))) for u, (path, when) in pages.items()}
    hosts = {urlsplit(u).hostname or "" for u in [*feed_urls, *index, *fetched]}
    scale = (end - start) / (args.minutes * 60)
    ca, cert, key = make_certificates(hosts, scratch)
    os.environ["SSL_CERT_FILE"] = str(ca)  # read by httpx when the fetchers are built
    map_hosts(hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    farm = Farm(feeds, pages, start - 60, scale)
    world_clock(farm)
    servers = [farm.serve(443, context), farm.serve(80, None)]
    print(f"pages served from: {args.pages_from}")
    print(f"{world.name}: {len(feeds)} feeds, {sum(map(len, feeds.values()))} captures over "
          f"{(end - start) / 86400:.1f} days replayed in {args.minutes:g} min ({scale:.0f}x); "
          f"{len(pages)} pages ({sum(u in fetched for u in pages)} with their fetch time in the archive)")
    db = f"sqlite:///{scratch / 'live.sqlite3'}"
    config = parse_config({
        "database": {"url": db}, "feeds": feed_list,
        "polling": {"dispatch_seconds": 0.5, "default_interval_seconds": 2, "min_interval_seconds": 2,
                    "max_interval_seconds": 2, "error_backoff_seconds": 2, "max_backoff_seconds": 4,
                    "allow_private_addresses": True},
        "pages": {"host_delay_seconds": 0.2, "refill_seconds": 1.0, "workers": 4},
    })
    daemon = Daemon(config)
    outcomes: Counter[str] = Counter()
    daemon.on_page = lambda o: outcomes.update([o.outcome])  # type: ignore[assignment]
    began = time.perf_counter()
    daemon.start()
    time.sleep(max(0.0, (end - farm.world_now()) / scale) + args.drain)
    daemon.shutdown()
    live_seconds = time.perf_counter() - began
    for server in servers:
        server.shutdown()
    report(world, db, farm, outcomes, live_seconds, scratch)


def report(world: Path, db: str, farm: Farm, outcomes: Counter[str], live_seconds: float, scratch: Path) -> None:
    truth = [json.loads(line) for line in (world / "truth.jsonl").read_text().splitlines() if line.strip()]
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(sa.text("SELECT url FROM items"))}
    engine.dispose()
    links = {t["link"] for t in truth}
    print(f"\nlive run {live_seconds:.0f} s: items stored {len(stored)}, truth {len(links)}, "
          f"truth items stored {len(links & stored)}, stored not in truth {len(stored - links)}")
    print("feed requests: " + ", ".join(f"{n} x {s}" for s, n in sorted(farm.feed_hits.items())))
    answers: Counter[int] = Counter()
    for hits in farm.page_hits.values():
        answers.update(hits)
    print("page requests: " + ", ".join(f"{n} x {s}" for s, n in sorted(answers.items()))
          + "; robots.txt: " + ", ".join(f"{n} x {s}" for s, n in sorted(farm.robots.items()))
          + f"; URLs the world has no page for: {len([u for u in farm.unknown if not u.endswith('/robots.txt')])} ("
          + ", ".join(f"{n} x {s}" for s, n in sorted(farm.other.items())) + ", on "
          + ", ".join(sorted({urlsplit(u).hostname or "" for u in farm.unknown if not u.endswith("/robots.txt")})) + ")")
    per_page = Counter(farm.page_hits[u][200] for u in farm.pages)
    revalidated = Counter(farm.page_hits[u][304] for u in farm.pages)
    print("pages by times fetched in full (200): " + ", ".join(f"{k}: {n}" for k, n in sorted(per_page.items())))
    print("pages by 304s (conditional GETs answered unchanged): " + ", ".join(f"{k}: {n}" for k, n in sorted(revalidated.items())))
    print("daemon's page outcomes: " + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())))
    live = score(world, db)
    off, seconds = offline(world, scratch)
    print(f"\n{'score':<10}{'live':>8}{'offline':>9}   (offline ingest {seconds:.0f} s)")
    for name in ("pair_f1", "origin_accuracy", "parent_accuracy"):
        print(f"{name:<10}{live.get(name, float('nan')):>8.4f}{off.get(name, float('nan')):>9.4f}")


if __name__ == "__main__":
    main()
