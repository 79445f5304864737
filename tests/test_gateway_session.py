"""The gateway's MQTT session: birth and Last Will, counters in the status, authentication."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from benchpin.broker import Mosquitto
from benchpin.config import parse_config
from gateway.service import Gateway
from tests.helpers import Subscriber
from tests.stations import station, station_file

STATUS = "benchpin/jaipur/casting-1/status"
ROOT = Path(__file__).resolve().parents[1]


def test_gateway_status_goes_offline_by_last_will_when_killed(tmp_path, broker):
    config = station_file(tmp_path, station(tmp_path, broker.port, gateway={"status_interval_s": 0.2}))
    sub = Subscriber(broker.port, STATUS)
    gateway = subprocess.Popen([sys.executable, "-m", "benchpin", "gateway", "--config", str(config)], cwd=ROOT)
    try:
        online = sub.wait_for(lambda p: [s for s in p if s["state"] == "online" and "outbox" in s], STATUS)
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(10)
        # The broker publishes the will after 1.5 keepalives without a word from the client.
        sub.wait_for(lambda p: p[-1]["state"] == "offline", STATUS, timeout=20, message="Last Will")
    finally:
        if gateway.poll() is None:
            gateway.kill()
    sub.close()
    outbox = online[0]["outbox"]
    assert {k: outbox[k] for k in ("pending", "dropped", "inflight", "dead_letters")} == {
        "pending": 0, "dropped": 0, "inflight": 0, "dead_letters": 0}
    assert outbox["bytes_written"] >= 0 and "recovered_from" not in outbox
    assert online[0]["uptime_s"] >= 0 and online[0]["load_1m"] >= 0 and online[0]["disk_free_bytes"] > 0
    assert online[0]["disk_bytes_written"] >= 0
    # A late subscriber sees the retained offline status at once.
    late = Subscriber(broker.port, STATUS)
    statuses = late.wait_for(lambda p: p, STATUS)
    late.close()
    assert statuses[-1]["state"] == "offline"


def test_gateway_authenticates_with_password_file(tmp_path):
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gateway", "s3cret"], check=True)
    passwords.chmod(0o600)
    with Mosquitto(workdir=tmp_path / "mqtt", extra_config=f"password_file {passwords}") as broker:
        broker.config_path.write_text(broker.config_path.read_text().replace("allow_anonymous true",
                                                                               "allow_anonymous false"))
        broker.restart()
        (tmp_path / "good").write_text("s3cret\n")
        (tmp_path / "bad").write_text("wrong\n")

        def config(name: str) -> dict:
            return {"site": {"id": "jaipur"},
                    "mqtt": {"port": broker.port, "username": "gateway",
                             "password_file": str(tmp_path / name)},
                    "gateway": {"id": "casting-1", "state_dir": str(tmp_path / f"state-{name}")}}

        with Gateway(parse_config(config("good"))) as accepted:
            assert accepted.session.connected.wait(10)
        with Gateway(parse_config(config("bad"))) as refused:
            assert not refused.session.connected.wait(3)
            assert refused.session.counters.connects == 0


def make_certificates(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=benchpin test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=casting-1")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", f"{name}.crt")
    return {name: directory / name for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


def test_gateway_connects_over_tls_with_a_client_certificate(tmp_path):
    certs_dir = tmp_path / "certs"
    certs_dir.mkdir()
    certs = make_certificates(certs_dir)
    with Mosquitto(workdir=tmp_path / "mqtt") as broker:
        # Replace the plain listener by a TLS one that demands a client certificate.
        broker.config_path.write_text(broker.config_path.read_text().replace(
            f"listener {broker.port} 127.0.0.1",
            f"listener {broker.port} 127.0.0.1\ncafile {certs['ca.crt']}\ncertfile {certs['server.crt']}\n"
            f"keyfile {certs['server.key']}\nrequire_certificate true"))
        broker.restart()

        def config(**mqtt: object) -> dict:
            return {"site": {"id": "jaipur"},
                    "mqtt": {"port": broker.port, "tls": True, "ca_file": str(certs["ca.crt"]), **mqtt},
                    "gateway": {"id": "casting-1", "state_dir": str(tmp_path / f"state-{len(mqtt)}")}}

        with Gateway(parse_config(config(cert_file=str(certs["client.crt"]),
                                         key_file=str(certs["client.key"])))) as gateway:
            assert gateway.session.connected.wait(10)
        with Gateway(parse_config(config())) as without_client_cert:
            assert not without_client_cert.session.connected.wait(3)
