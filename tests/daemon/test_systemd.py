"""sd_notify and the systemd unit: a fake NOTIFY_SOCKET receives what a real `tracker run` says.

The test plays systemd's part: it binds a unix datagram socket, starts the daemon with
NOTIFY_SOCKET (and WATCHDOG_USEC) pointing at it, and reads READY=1, WATCHDOG=1,
RELOADING=1 and STOPPING=1 as they come. The unit file is checked with systemd's own
`systemd-analyze` when it is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.feedserver import FeedServer, wait_until
from tests.daemon.test_scheduler import STARTUP, TRACKER, DaemonProcess, _env, write_config
from tracker.daemon.health import POLLING, STALLED, Liveness
from tracker.daemon.systemd import Notifier, Watchdog, watchdog_interval

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "tracker.service"


class FakeSystemd:
    """A unix datagram socket collecting sd_notify messages, as systemd's would."""

    def __init__(self, abstract: bool = False) -> None:
        self._dir = tempfile.mkdtemp(prefix="sd")  # short: a socket path must fit in 108 bytes
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"tracker-test-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(self._dir, "notify")
            self.sock.bind(self.address)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def received(self, line: str) -> list[float]:
        """When each message holding `line` arrived."""
        with self._lock:
            return [at for at, message in self.messages if line in message.split("\n")]

    def all(self) -> list[str]:
        with self._lock:
            return [message for _, message in self.messages]

    def close(self) -> None:
        self._closed.set()
        self.sock.close()
        self._thread.join(timeout=2)
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    yield fake
    fake.close()


# -- the notifier --------------------------------------------------------------------------------------------
def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready("polling") and not notifier.watchdog() and not notifier.stopping()


def test_notifications_reach_a_socket_path_and_an_abstract_socket(systemd: FakeSystemd) -> None:
    abstract = FakeSystemd(abstract=True)
    try:
        for fake in (systemd, abstract):
            notifier = Notifier.from_environment({"NOTIFY_SOCKET": fake.address})
            assert notifier.ready("polling 3 feeds") and notifier.reloading() and notifier.stopping()
            wait_until(lambda fake=fake: len(fake.all()) == 3, 2, "three messages")  # type: ignore[misc]
            ready, reloading, stopping = fake.all()
            assert ready == "READY=1\nSTATUS=polling 3 feeds"
            assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", reloading)
            assert stopping.startswith("STOPPING=1\n")
    finally:
        abstract.close()


def test_a_missing_socket_is_reported_once_and_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    with caplog.at_level("WARNING", logger="tracker.daemon.systemd"):
        assert not notifier.watchdog() and not notifier.watchdog()
    assert [r.getMessage() for r in caplog.records] == ["cannot notify systemd"]


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process_only() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None  # meant for another process
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_the_watchdog_is_not_fed_while_the_dispatch_loop_is_stalled(systemd: FakeSystemd) -> None:
    state = [Liveness(POLLING, 0.1)]
    watchdog = Watchdog(Notifier(systemd.address), 0.05, lambda: state[0]).start()
    try:
        wait_until(lambda: len(systemd.received("WATCHDOG=1")) >= 3, 2, "watchdog pings")
        state[0] = Liveness(STALLED, 80.0, "no dispatch tick completed for 80 s")
        wait_until(lambda: systemd.received("STATUS=stalled: no dispatch tick completed for 80 s"), 2, "the stall reported")
        time.sleep(0.1)
        stalled_at = time.monotonic()
        time.sleep(0.3)
        assert not [at for at in systemd.received("WATCHDOG=1") if at > stalled_at], "pinged while stalled"
        state[0] = Liveness(POLLING, 0.1)
        wait_until(lambda: [at for at in systemd.received("WATCHDOG=1") if at > stalled_at], 2, "pings resumed")
    finally:
        watchdog.stop()


# -- a real daemon -------------------------------------------------------------------------------------------------
def test_the_daemon_notifies_ready_watchdog_reloading_and_stopping(tmp_path: Path, systemd: FakeSystemd, sqlite_url: str) -> None:
    server = FeedServer()
    daemon: DaemonProcess | None = None
    try:
        feed = server.growing_feed("/sd.xml", "Notified", seed=41, initial=1)
        config = write_config(tmp_path / "tracker.toml", sqlite_url, [feed])
        # Ping every 0.5 s: a second's margin for the scheduler of a loaded CI machine, where
        # 0.4 s (pings every 0.2 s) was missed by 0.2 ms once.
        env = {**_env(), "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "1000000"}
        daemon = DaemonProcess(config, tmp_path, env)

        ready = wait_until(lambda: systemd.received("READY=1"), STARTUP, "READY=1", details=daemon.tail)
        assert isinstance(ready, list) and len(ready) == 1
        # Ready means polling: the pipeline was open before it was said.
        assert daemon.logged("ready to poll"), daemon.tail()
        assert any(m.startswith("READY=1\nSTATUS=polling 1 feeds") for m in systemd.all()), systemd.all()
        wait_until(lambda: len(systemd.received("WATCHDOG=1")) >= 5, 10, "five watchdog pings", details=daemon.tail)
        pings = systemd.received("WATCHDOG=1")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < 1.0, f"pings further apart than WATCHDOG_USEC allows: {gaps}"

        daemon.send(signal.SIGHUP)
        wait_until(lambda: len(systemd.received("READY=1")) == 2, 5, "READY=1 after the reload", details=daemon.tail)
        reloading = systemd.received("RELOADING=1")
        assert len(reloading) == 1 and reloading[0] <= systemd.received("READY=1")[1]
        daemon.wait_logged("config reloaded", timeout=1)

        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit(10) == 0, daemon.tail()
        assert systemd.received("STOPPING=1"), systemd.all()
        stopping = systemd.received("STOPPING=1")[0]
        late = [at for at in systemd.received("WATCHDOG=1") if at > stopping + 0.5]
        assert not late, "the watchdog kept pinging after the daemon stopped"
        assert not daemon.logged("cannot notify systemd")
    finally:
        if daemon is not None:
            daemon.kill()
        server.close()


def test_not_ready_while_the_database_is_unreachable_and_the_status_says_why(tmp_path: Path, systemd: FakeSystemd) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_config(tmp_path / "tracker.toml", f"postgresql+psycopg://postgres@127.0.0.1:{port}/tracker", [])
    daemon = DaemonProcess(config, tmp_path, {**_env(), "NOTIFY_SOCKET": systemd.address})
    try:
        wait_until(lambda: systemd.received("STATUS=starting: waiting for the database"), STARTUP, "the status line",
                   details=daemon.tail)
        time.sleep(1.0)
        assert not systemd.received("READY=1"), "READY=1 before the daemon could load anything"
        assert daemon.alive()
        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit(10) == 0, daemon.tail()
    finally:
        daemon.kill()


def test_without_notify_socket_the_daemon_runs_as_before(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path / "tracker.toml", sqlite_url, [])
    daemon = DaemonProcess(config, tmp_path, {**_env(), "WATCHDOG_USEC": "400000"})
    try:
        daemon.wait_logged("ready to poll", timeout=STARTUP)
        daemon.send(signal.SIGTERM)
        assert daemon.wait_exit(10) == 0, daemon.tail()
        assert not daemon.logged("cannot notify systemd") and not daemon.logged("watchdog")
    finally:
        daemon.kill()


# -- the unit file -----------------------------------------------------------------------------------------------------
def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_is_a_notify_service_with_watchdog_reload_config_and_sandbox() -> None:
    unit = _unit_settings()
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert unit["ExecStart"][0].endswith("/bin/tracker run")
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "TRACKER_CONFIG=/etc/tracker/tracker.toml" in unit["Environment"]
    assert unit["WatchdogSec"] and unit["StateDirectory"] == ["tracker"] and unit["WorkingDirectory"] == ["/var/lib/tracker"]
    for key, expected in {"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                          "NoNewPrivileges": "yes"}.items():
        assert unit[key] == [expected], key
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("TRACKER_REQUIRE_SERVICES") == "1":
            pytest.fail("systemd-analyze required (TRACKER_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("systemd-analyze is not installed")
    return tool


def test_systemd_analyze_accepts_the_unit_and_rates_its_sandbox_ok(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    # verify checks that ExecStart exists: point it at this checkout's tracker.
    unit = tmp_path / "tracker.service"
    unit.write_text(UNIT.read_text().replace("/opt/tracker/.venv/bin/tracker", TRACKER))
    verify = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run([tool, "security", "--offline=true", str(unit)], capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for tracker\.service: (\d+\.\d+)", security.stdout + security.stderr)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) <= 2.0, f"exposure {found.group(1)} (systemd calls ≤ 2.0 OK)\n{security.stdout}"
