"""`benchpin kiosk` serves the API with waitress and stops cleanly on SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from benchpin.broker import free_port
from kiosk.ledger import Ledger
from tests.helpers import wait_until
from tests.kiosk_support import add_operators, spec
from tests.stations import station, station_file

TOKEN = "server-test-token-0123456789"


def get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def test_kiosk_command_serves_the_api_and_stops_on_sigterm(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Ledger(database) as ledger:
        add_operators(ledger)
        ledger.import_pieces([spec("PC-1")])
    (tmp_path / "token").write_text(TOKEN)
    port = free_port()
    config = station_file(tmp_path, station(tmp_path, broker.port, kiosk={
        "station": "design", "database": database, "listen": f"127.0.0.1:{port}",
        "api_token_file": str(tmp_path / "token")}))
    process = subprocess.Popen([sys.executable, "-m", "benchpin", "kiosk", "--config", str(config)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: get(f"{base}/healthz")[0] == 200, timeout=20, message="kiosk answering")
        status, body = get(f"{base}/api/pieces/PC-1", TOKEN)
        assert status == 200 and body["stage"] == "design"
        assert get(f"{base}/api/pieces/PC-1")[0] == 401
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # a keep-alive client stays
        idle.request("GET", "/healthz")
        assert idle.getresponse().read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        idle.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "kiosk stopped" in stderr and "Traceback" not in stderr


def test_a_second_kiosk_on_the_same_outbox_stops_with_one_clear_line(tmp_path: Path, broker) -> None:  # type: ignore[no-untyped-def]
    database = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    with Ledger(database) as ledger:
        add_operators(ledger)
    (tmp_path / "token").write_text(TOKEN)
    ports = [free_port(), free_port()]
    configs = [station_file(tmp_path / f"k{n}.toml", station(tmp_path, broker.port, kiosk={
        "station": "design", "database": database, "listen": f"127.0.0.1:{port}",
        "api_token_file": str(tmp_path / "token")})) for n, port in enumerate(ports)]
    first = subprocess.Popen([sys.executable, "-m", "benchpin", "kiosk", "--config", str(configs[0])],
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{ports[0]}/healthz")[0] == 200, timeout=20,
                   message="the first kiosk answering")
        second = subprocess.run([sys.executable, "-m", "benchpin", "kiosk", "--config", str(configs[1])],
                                capture_output=True, text=True, timeout=60)
    finally:
        first.terminate()
        first.communicate(timeout=20)
    assert second.returncode == 3, second.stderr
    assert "cannot start the kiosk" in second.stderr and f"pid {first.pid}" in second.stderr
    assert "Traceback" not in second.stderr
