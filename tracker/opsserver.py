"""`[http] listen`: the daemon's `/healthz` and `/metrics`, served from a daemon thread.

A stdlib ThreadingHTTPServer whose handler is prometheus-client's own (content
negotiation, gzip, `name[]` filters) with `/healthz` added; anything else is a 404.
Requests are not logged: scrapers call every few seconds.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tracker.errors import ConfigError
from tracker.health import HealthCheck
from tracker.logs import fields
from tracker.metrics import Metrics
from tracker.terminal import json_line

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler(metrics: Metrics, health: HealthCheck) -> type[BaseHTTPRequestHandler]:
    base: Any = metrics.handler()

    class Handler(base):  # type: ignore[misc, valid-type]
        server_version = "tracker"

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/metrics":
                super().do_GET()
            elif path == "/healthz":
                self._health(send_body=True)
            else:
                self._reply(404, {"error": "not found", "paths": ["/healthz", "/metrics"]})

        def do_HEAD(self) -> None:
            if urlsplit(self.path).path == "/healthz":
                self._health(send_body=False)
            else:
                self._reply(404, {"error": "not found"}, send_body=False)

        def _health(self, send_body: bool) -> None:
            healthy, body = health.report()
            self._reply(200 if healthy else 503, body, send_body)

        def _reply(self, status: int, body: dict[str, Any], send_body: bool = True) -> None:
            data = (json_line(json.dumps(body, ensure_ascii=False)) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if send_body:
                self.wfile.write(data)

    return Handler


class OpsServer:
    """Serves `/healthz` and `/metrics` on `host:port` until `stop()`."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: HealthCheck) -> None:
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
            server_class = type("Server", (_Server,), {"address_family": family})
            self._server = server_class((host, port), _handler(metrics, health))
        except OSError as error:
            raise ConfigError(f"http.listen: cannot listen on {_join(host, port)}: {error.strerror or error}") from None
        self.health = health
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="http", daemon=True)

    def start(self) -> OpsServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        log.info("http listening", extra=fields(address=_join(self.host, self.port), host=self.host, port=self.port,
                                                paths="/healthz /metrics"))
        return self

    def stop(self) -> None:
        """Stop serving and close the socket and the health probe's connections."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self.health.close()


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
