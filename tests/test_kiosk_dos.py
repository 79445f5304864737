"""The kiosk under load from strangers: live streams, slow clients, big bodies, badge codes.

Everything runs through the production server (waitress) on loopback. Loopback is one of the
kiosk's own screen addresses by default, so the tests that play a stranger configure another
address as the screen. Bounds are counts and status codes; the timeouts are generous.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import paho.mqtt.publish as publish
import pytest

from benchpin.broker import Mosquitto
from benchpin.topics import Topics
from kiosk.app import MAX_CONTENT_LENGTH
from kiosk.live import BADGE_NONCE_TTL_S, LiveFeed
from kiosk.server import KioskServer
from kiosk.ui.state import ui_state
from kiosk.ui.stream import event_stream
from tests.helpers import wait_until
from tests.kiosk_ui_support import Kiosk, messages, served_kiosk, ui_config

TOPICS = Topics("jaipur")
SCAN_TOPIC = TOPICS.scan("casting-1", "bench-3")
ELSEWHERE = ["198.51.100.7"]  # the kiosk's screen is some other machine: loopback is a stranger
PROBE_TIMEOUT_S = 5.0


def status_of(port: int, path: str, *, method: str = "GET", body: bytes | None = None,
              headers: dict[str, str] | None = None, timeout: float = PROBE_TIMEOUT_S) -> int:
    """Return the status of one request on a fresh connection, or 0 if none came within ``timeout``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


class RawStream:
    """A raw ``GET /events`` client; ``status`` is 0 when no answer came."""

    def __init__(self, port: int, cookie: str = "", timeout: float = 10) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.status = 0
        self.headers: dict[str, str] = {}
        try:
            self.conn.request("GET", "/events", headers={"Cookie": cookie} if cookie else {})
            self.response = self.conn.getresponse()
            self.status = self.response.status
            self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        except OSError:
            pass

    def read_until(self, needle: bytes, limit: int = 200) -> bytes:
        """Return the stream's lines up to and including the first one holding ``needle``."""
        seen = b""
        for _ in range(limit):
            line = self.response.readline()
            seen += line
            if needle in line or not line:
                return seen
        return seen

    def close(self) -> None:
        if self.status:
            self.response.close()  # else its file keeps the socket open
        self.conn.close()


def badge_in(port: int, badge: str) -> str:
    """Badge in through the idle screen with a cookie jar; return the session's Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"
    idle = opener.open(f"{base}/", timeout=10).read().decode()
    match = re.search(r'name="csrf_token" value="([^"]+)"', idle)
    assert match
    form = urllib.parse.urlencode({"code": badge, "csrf_token": match.group(1)}).encode()
    welcome = opener.open(f"{base}/scan", data=form, timeout=10).read().decode()
    assert "Welcome" in welcome
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def send_scan(broker: Mosquitto, code: str, valid: bool = True, reason: str | None = None) -> None:
    publish.single(SCAN_TOPIC, json.dumps({"ts": "2026-11-23T10:00:00.000Z", "seq": 1, "code": code,
                                           "valid": valid, "reason": reason}),
                   qos=1, hostname="127.0.0.1", port=broker.port)


@pytest.fixture
def server(tmp_path: Path, broker: Mosquitto) -> Iterator[KioskServer]:
    with served_kiosk(tmp_path, broker.port) as kiosk:
        yield kiosk


# ---------------------------------------------------------------------------- who may stream

def test_a_stranger_gets_no_stream_and_a_badged_in_session_does(tmp_path: Path, broker: Mosquitto) -> None:
    with served_kiosk(tmp_path, broker.port, screen_addresses=ELSEWHERE) as server:
        stranger = RawStream(server.port)
        assert stranger.status == 403
        assert ui_state(server.app).live.open_streams() == 0
        stranger.close()
        badged = RawStream(server.port, cookie=badge_in(server.port, "OP-ART"))
        try:
            assert badged.status == 200 and badged.headers["content-type"].startswith("text/event-stream")
            assert ui_state(server.app).live.open_streams() == 1
        finally:
            badged.close()


# ---------------------------------------------------------------------------- how many streams

def test_streams_beyond_the_bound_get_503_and_the_screens_keep_answering(tmp_path: Path,
                                                                          broker: Mosquitto) -> None:
    """As many streams as the server has threads: the bound refuses the rest, nothing starves."""
    with served_kiosk(tmp_path, broker.port, max_streams=3,
                      test_config={"KIOSK_STREAM_HEARTBEAT_S": 0.2}) as server:
        threads = server.config.kiosk.threads  # type: ignore[union-attr]
        streams = [RawStream(server.port, timeout=PROBE_TIMEOUT_S) for _ in range(threads + 4)]
        try:
            statuses = [s.status for s in streams]
            assert statuses.count(200) == 3 and statuses.count(503) == threads + 1, statuses
            refused = next(s for s in streams if s.status == 503)
            assert refused.headers.get("retry-after", "").isdigit()
            probes = [status_of(server.port, path) for path in ("/healthz", "/") * 5]
            assert probes == [200] * 10
            for stream in streams:
                if stream.status == 200:
                    stream.close()
            # A closed stream's thread notices at its next heartbeat and frees the slot.
            wait_until(lambda: ui_state(server.app).live.open_streams() == 0, timeout=10)
            again = RawStream(server.port)
            assert again.status == 200
            again.close()
        finally:
            for stream in streams:
                stream.close()


def test_a_stream_heartbeats_and_ends_after_its_lifetime(tmp_path: Path) -> None:
    feed = LiveFeed(ui_config(tmp_path), connect=False, max_listeners=1)
    now = [0.0]
    stream = event_stream(feed, heartbeat_s=0.01, lifetime_s=0.05, clock=lambda: now[0])
    assert next(stream).startswith(b"retry: ")
    chunks = []
    for chunk in stream:  # the fake clock moves on 0.01 s per heartbeat: bounded
        chunks.append(chunk)
        now[0] += 0.01
        assert len(chunks) < 50
    assert chunks and set(chunks) == {b": heartbeat\n\n"}
    assert feed.open_streams() == 0  # its slot is free again


# ---------------------------------------------------------------------------- slow clients

def test_200_stalled_clients_and_idle_streams_leave_healthz_and_the_screens_answering(
        server: KioskServer) -> None:
    stalled: list[socket.socket] = []
    streams: list[RawStream] = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: kiosk\r\nUser-Agent: slow")  # never finished
            stalled.append(sock)
        streams = [RawStream(server.port) for _ in range(3)]
        assert [s.status for s in streams] == [200] * 3
        answered: list[int] = []
        started = time.monotonic()
        while time.monotonic() - started < 20 and len(answered) < 20:
            answered.append(status_of(server.port, "/healthz" if len(answered) % 2 else "/"))
            time.sleep(1.0)
        assert answered == [200] * 20
    finally:
        for sock in stalled:
            sock.close()
        for stream in streams:
            stream.close()


# ---------------------------------------------------------------------------- request bodies

def test_request_bodies_are_capped(server: KioskServer) -> None:
    big = b"code=" + b"A" * (MAX_CONTENT_LENGTH + 1)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/scan", body=big, headers=form)
    response = conn.getresponse()
    assert response.status == 413
    assert "larger than the kiosk accepts (64 KiB)" in response.read().decode()
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/api/pieces/PC-1/moves", body=b'{"note": "' + b"x" * MAX_CONTENT_LENGTH + b'"}',
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status in (401, 413)  # no token: refused before the body is read, or capped
    conn.close()
    # Declared far beyond the server's own limit: refused without reading (nothing is sent).
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("POST", "/scan")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(100 * 1024 * 1024))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert status_of(server.port, "/healthz") == 200


def test_api_bodies_are_capped_with_a_json_error(tmp_path: Path, broker: Mosquitto) -> None:
    (tmp_path / "token").write_text("dos-test-token-0123456789")
    with served_kiosk(tmp_path, broker.port, api_token_file=str(tmp_path / "token")) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("POST", "/api/pieces/PC-1/moves",
                     body=b'{"note": "' + b"x" * MAX_CONTENT_LENGTH + b'"}',
                     headers={"Content-Type": "application/json",
                              "Authorization": "Bearer dos-test-token-0123456789"})
        response = conn.getresponse()
        assert response.status == 413
        assert "larger than the kiosk accepts" in json.loads(response.read())["error"]
        conn.close()


# ---------------------------------------------------------------------------- badge codes

def test_the_stream_never_carries_a_badge_code(server: KioskServer, broker: Mosquitto) -> None:
    stream = RawStream(server.port)
    try:
        assert stream.status == 200
        live = ui_state(server.app).live
        assert live.session is not None and live.session.connected.wait(10)
        # Scan pieces until one arrives: then the subscription is in place.
        probe = live.listen()

        def arrived() -> bool:
            send_scan(broker, "PC-1")
            return not probe.queue.empty()

        wait_until(arrived, timeout=15)
        live.forget(probe)
        send_scan(broker, "OP-SUP")
        send_scan(broker, "op-sup", valid=False, reason="no known prefix")  # near enough to the badge
        send_scan(broker, "PC-END")
        seen = stream.read_until(b"PC-END")
    finally:
        stream.close()
    assert b"OP-SUP" not in seen.upper()
    events = [json.loads(line[6:]) for line in seen.splitlines() if line.startswith(b"data: ")]
    badges = [e for e in events if e.get("kind") == "badge"]
    assert [b["valid"] for b in badges] == [True, False] and all("code" not in b for b in badges)
    nonce = badges[0]["nonce"]
    assert len(nonce) >= 20 and badges[1]["nonce"] == ""
    kiosk = Kiosk(server.app)
    page = kiosk.client.post("/scan", data={"badge": nonce, "csrf_token": kiosk.token}, follow_redirects=True)
    assert "Welcome, Supervisor One (supervisor)." in messages(page.get_data(as_text=True))
    other = Kiosk(server.app)  # single use: a second screen cannot log in with it
    again = other.client.post("/scan", data={"badge": nonce, "csrf_token": other.token}, follow_redirects=True)
    assert "That badge scan was already used or is too old: scan your badge again." in \
        messages(again.get_data(as_text=True))
    assert 'data-operator=""' in again.get_data(as_text=True)


def test_a_badge_nonce_expires(tmp_path: Path) -> None:
    now = [100.0]
    feed = LiveFeed(ui_config(tmp_path), connect=False, clock=lambda: now[0])
    listener = feed.listen()
    for code in ("OP-ART", "OP-QC"):
        feed.on_scan("benchpin/jaipur/casting-1/scanner/bench-3/scan",
                     json.dumps({"ts": "t", "seq": 1, "code": code, "valid": True, "reason": None}).encode())
    fresh, stale = (m.data["nonce"] for m in (listener.get(1), listener.get(1)) if m is not None)
    assert feed.redeem_badge(fresh) == "OP-ART"
    now[0] += BADGE_NONCE_TTL_S + 0.1
    assert feed.redeem_badge(stale) is None
    assert feed.redeem_badge("made-up") is None


def test_a_badge_scanned_over_mqtt_still_logs_the_screen_in(server: KioskServer, broker: Mosquitto,
                                                            tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.helpers import CHROMIUM
    from tests.test_kiosk_browser import open_kiosk, scan_over_mqtt

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            opened = open_kiosk(browser, server, broker)
            page = next(opened)
            sent: list[str] = []
            page.on("request", lambda request: sent.append(request.post_data or ""))
            scan_over_mqtt(broker, "OP-SUP")
            page.wait_for_selector("text=Welcome, Supervisor One (supervisor).", timeout=15000)
            assert page.locator(".who .badge").inner_text().startswith("Supervisor One")
            assert not any("OP-SUP" in body for body in sent)  # the screen never had the code
            next(opened, None)  # closes the context, checks for JavaScript errors
        finally:
            browser.close()



def test_the_screen_reopens_a_stream_that_was_refused(tmp_path: Path, broker: Mosquitto) -> None:
    """A 503 closes an EventSource for good: the page itself must open a new one later."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.helpers import CHROMIUM
    from tests.test_kiosk_browser import open_kiosk

    with served_kiosk(tmp_path, broker.port, max_streams=1, test_config={"KIOSK_STREAM_HEARTBEAT_S": 0.2}) \
            as server, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            first = open_kiosk(browser, server, broker)
            next(first)
            context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server.url)
            second = context.new_page()
            second.goto("/")
            second.wait_for_function("document.documentElement.dataset.live === 'retrying'")  # 503: full
            assert ui_state(server.app).live.open_streams() == 1
            next(first, None)  # the first screen goes away: its slot frees at its next heartbeat
            second.wait_for_function("document.documentElement.dataset.live === 'open'", timeout=20000)
            context.close()
        finally:
            browser.close()


def test_the_screen_keeps_getting_scans_across_stream_lifetimes(tmp_path: Path, broker: Mosquitto) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.helpers import CHROMIUM
    from tests.test_kiosk_browser import open_kiosk, scan_over_mqtt

    with served_kiosk(tmp_path, broker.port, test_config={"KIOSK_STREAM_LIFETIME_S": 1.0}) as server, \
            playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        try:
            opened = open_kiosk(browser, server, broker)
            page = next(opened)
            time.sleep(3)  # three lifetimes: the browser has opened the stream again each time
            live = ui_state(server.app).live
            for _ in range(10):  # a scan that falls in a reconnect gap (about a second) is missed
                wait_until(lambda: live.open_streams() == 1, timeout=10)  # scan while a stream is open
                scan_over_mqtt(broker, "OP-SUP")
                try:
                    page.wait_for_selector("text=Welcome, Supervisor One (supervisor).", timeout=2000)
                    break
                except playwright_api.TimeoutError:
                    continue
            assert page.locator(".who .badge").inner_text().startswith("Supervisor One")
            next(opened, None)
        finally:
            browser.close()
