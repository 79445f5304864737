"""The kiosk when its storage fails: a ledger down at start, a stale pool, ids with control characters.

PostgreSQL is the machine's shared server, which a test cannot stop: it reaches it through a
small TCP proxy on loopback instead, which the test stops ("down"), starts again ("back") and
cuts (every pooled connection dies at once, as when the server restarts).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

from benchpin.broker import Mosquitto, free_port
from kiosk.app import close_app, create_app
from kiosk.ledger.db import Database
from kiosk.server import KioskServer
from kiosk.state import get_ledger
from tests.helpers import wait_until
from tests.kiosk_support import postgres_schema_url
from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config
from tests.stations import station, station_file

TOKEN = "faults-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
POSTGRES = ("127.0.0.1", 5432)


class TcpProxy:
    """Forward connections from a loopback port to PostgreSQL; stop, start and cut them at will."""

    def __init__(self, target: tuple[str, int] = POSTGRES) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen again (the database is back)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)  # the accept loop checks its stop flag this often
        self._listener, self._stop = listener, threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and cut every connection (the database is down)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.cut()

    def cut(self) -> None:
        """Kill every forwarded connection, leaving the clients' pooled sockets dead."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _close(sock)

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def request(port: int, path: str, *, method: str = "GET", body: dict[str, object] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Return (status, body text) of one request, or (0, "") when the kiosk does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={**({"Content-Type": "application/json"} if body is not None else {}),
                              **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode()
    except OSError:
        return 0, ""
    finally:
        conn.close()


@pytest.fixture
def proxied_postgres(postgres_unavailable: str | None) -> Iterator[tuple[TcpProxy, str]]:  # noqa: F811
    """A fresh PostgreSQL schema reached through a stopped proxy: (proxy, URL through it)."""
    if postgres_unavailable:
        pytest.skip(postgres_unavailable)
    proxy = TcpProxy()
    try:
        for url in postgres_schema_url():
            yield proxy, url.replace(f"{POSTGRES[0]}:{POSTGRES[1]}", f"127.0.0.1:{proxy.port}", 1)
    finally:
        proxy.stop()


def test_kiosk_starts_with_postgresql_down_recovers_and_survives_a_stale_pool(
        proxied_postgres: tuple[TcpProxy, str], tmp_path: Path, broker: Mosquitto,
        caplog: pytest.LogCaptureFixture) -> None:
    proxy, url = proxied_postgres
    (tmp_path / "token").write_text(TOKEN)
    config = ui_config(tmp_path, mqtt_port=broker.port, database=url, listen="127.0.0.1:0", threads=8,
                       outbox_file=str(tmp_path / "outbox.sqlite"), api_token_file=str(tmp_path / "token"))
    with caplog.at_level(logging.INFO):
        server = KioskServer(config, {"SECRET_KEY": SECRET})
    with server:
        said = [r for r in caplog.records if "the ledger is unavailable" in r.getMessage()]
        assert len(said) == 1 and said[0].exc_info is None and "\n" not in said[0].getMessage()
        assert request(server.port, "/healthz")[0] == 503
        status, page = request(server.port, "/")
        assert status == 503 and "Ledger unavailable" in page and "data-retry-ms" in page
        status, body = request(server.port, "/api/pieces/PC-1", headers=AUTH)
        assert status == 503 and "unavailable" in json.loads(body)["error"]

        proxy.start()
        assert request(server.port, "/healthz")[0] == 200  # the first request after it is back
        with server.app.app_context():
            seed(get_ledger())
        assert server.app.extensions["benchpin.kiosk"].bridge is not None  # started with the ledger

        proxy.cut()  # every pooled connection is dead now
        assert [request(server.port, "/healthz")[0] for _ in range(5)] == [200] * 5
        assert request(server.port, "/api/pieces/PC-1", headers=AUTH)[0] == 200
        proxy.cut()
        status, body = request(server.port, "/api/pieces/PC-1/moves", method="POST", headers=AUTH,
                               body={"to": "filing", "operator": "OP-SUP"})
        assert status == 201, body  # a write transaction on a stale pooled connection
        kiosk = Kiosk(server.app)
        proxy.cut()
        assert "Welcome, Supervisor One" in kiosk.scan("OP-SUP").get_data(as_text=True)

        proxy.stop()
        assert request(server.port, "/healthz")[0] == 503
        down = kiosk.scan("OP-ART")  # the idle screen needs no ledger; a badge does
        assert down.status_code == 503 and "Ledger unavailable" in down.get_data(as_text=True)
        proxy.start()
        assert request(server.port, "/healthz")[0] == 200
        assert request(server.port, "/api/pieces/PC-1", headers=AUTH)[0] == 200


def test_a_transaction_first_on_a_connection_that_died_idle_runs_on_a_fresh_one(
        proxied_postgres: tuple[TcpProxy, str]) -> None:
    proxy, url = proxied_postgres
    proxy.start()
    db = Database(url)
    try:
        with db.connect() as conn:  # one connection, back in the pool afterwards
            conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        proxy.cut()
        with db.transaction() as conn:
            conn.execute("INSERT INTO t (n) VALUES (?)", (1,))
        proxy.cut()
        with db.connect() as conn:
            assert conn.rows("SELECT n FROM t") == [(1,)]
    finally:
        db.close()


def test_benchpin_kiosk_starts_with_postgresql_down_in_one_line_and_recovers(
        proxied_postgres: tuple[TcpProxy, str], tmp_path: Path, broker: Mosquitto) -> None:
    proxy, url = proxied_postgres
    port = free_port()
    config = station_file(tmp_path, station(tmp_path, broker.port, kiosk={
        "database": url, "listen": f"127.0.0.1:{port}", "outbox_file": str(tmp_path / "outbox.sqlite")}))
    process = subprocess.Popen([sys.executable, "-m", "benchpin", "kiosk", "--config", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: request(port, "/healthz")[0] == 503, timeout=30, message="the kiosk answering 503")
        status, page = request(port, "/")
        assert status == 503 and "Ledger unavailable" in page
        proxy.start()
        assert request(port, "/healthz")[0] == 200
        assert request(port, "/")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Traceback" not in stderr, stderr
    assert len([line for line in stderr.splitlines() if "the ledger is unavailable" in line]) == 1, stderr


def test_a_sqlite_ledger_whose_directory_cannot_be_made_yet(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the ledger's directory should be")
    config = ui_config(tmp_path, database=f"sqlite:///{blocker / 'ledger.sqlite'}")
    app = create_app(config, {"SECRET_KEY": SECRET, "KIOSK_LIVE": False, "KIOSK_EVENTS": False})
    try:
        client = app.test_client()
        assert client.get("/healthz").status_code == 503
        idle = client.get("/")
        assert idle.status_code == 503 and "Ledger unavailable" in idle.get_data(as_text=True)
        blocker.unlink()
        assert client.get("/healthz").status_code == 200  # the first request once it can be made
        assert client.get("/").status_code == 200
    finally:
        close_app(app)


def test_control_characters_in_ids_are_refused_never_a_500(ledger_url: str, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "token").write_text(TOKEN)
    config = ui_config(tmp_path, database=ledger_url, outbox_file=str(tmp_path / "outbox.sqlite"),
                       api_token_file=str(tmp_path / "token"))
    app = create_app(config, {"SECRET_KEY": SECRET, "KIOSK_LIVE": False, "KIOSK_EVENTS": False})
    try:
        with app.app_context():
            seed(get_ledger())
        kiosk = Kiosk(app)
        kiosk.scan("OP-SUP")
        for char in ["\x00", "\x01", "\x1b", "\x7f"]:
            quoted = f"%{ord(char):02X}"
            for path in (f"/pieces/PC-1{quoted}", f"/pieces/PC-1{quoted}/reasons", f"/trees/TR-1{quoted}",
                         f"/pieces/{quoted}PC-1/override?to=filing", f"/engraving/x{quoted}/retry"):
                method = kiosk.post if path.startswith("/engraving") else kiosk.get
                assert method(path).status_code == 404, path
            for path in (f"/api/pieces/PC-1{quoted}", f"/api/trees/TR-1{quoted}"):
                answer = kiosk.client.get(path, headers=AUTH)
                assert answer.status_code == 404 and "unknown id" in answer.get_json()["error"], path
            answer = kiosk.client.post(f"/api/pieces/PC-1{quoted}/moves", headers=AUTH,
                                       json={"to": "filing", "operator": "OP-SUP"})
            assert answer.status_code == 404
            for body in ({"to": f"filing{char}", "operator": "OP-SUP"},
                         {"to": "filing", "operator": f"OP-SUP{char}"},
                         {"to": "filing", "operator": "OP-SUP", "from": f"casting{char}"}):
                answer = kiosk.client.post("/api/pieces/PC-1/moves", headers=AUTH, json=body)
                assert answer.status_code == 400 and "control character" in answer.get_json()["error"], body
        version = str(app.extensions["benchpin.kiosk"].ledger.piece("PC-1").version)
        for form in ({"piece": "PC-1\x00", "version": version}, {"tree": "TR-1\x00"}):
            assert kiosk.scan("CMD-ADVANCE", **form).status_code == 400, form
        assert kiosk.post("/pieces/PC-1/moves", to="filing\x00", version=version).status_code == 400
        assert kiosk.post("/trees/TR-1/moves", to="filing\x00").status_code == 400
        assert kiosk.get("/pieces/PC-1/reasons?kind=rework\x00").status_code == 400
        with app.app_context():
            assert get_ledger().piece("PC-1").stage == "casting"  # nothing moved
    finally:
        close_app(app)
