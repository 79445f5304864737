"""The shipped station broker's listeners: plaintext on loopback only, TLS on 8883 with
certificates made by scripts/make-certs, and a benchpin MqttSession connecting over TLS."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from benchpin.config import MqttConfig
from benchpin.mqtt import MqttSession
from tests.helpers import wait_until
from tests.mosquitto_station import MOSQUITTO_DIR, USERS, Reader, make_certs, station_broker

SITE = "benchpin/jaipur"
GW = f"{SITE}/casting-1"


@pytest.fixture
def station(tmp_path: Path):
    broker = station_broker(tmp_path / "station")
    yield broker
    broker.close()


def test_shipped_config_listens_in_plaintext_on_loopback_only() -> None:
    listeners = [line.split()[1:] for line in (MOSQUITTO_DIR / "mosquitto.conf").read_text().splitlines()
                 if line.startswith("listener ")]
    assert ["1883", "127.0.0.1"] in listeners
    assert ["8883"] in listeners
    assert len(listeners) == 2, listeners


def tls_session(station, tmp_path: Path, user: str, ca_file: str = "", **mqtt: str) -> MqttSession:
    password_file = tmp_path / f"{user}-password"
    password_file.write_text(USERS[user] + "\n")
    config = MqttConfig(host="127.0.0.1", port=station.tls_port, username=user, password_file=str(password_file),
                        tls=True, ca_file=ca_file or str(station.certs / "ca.crt"), **mqtt)
    return MqttSession(config, client_id=f"benchpin-tls-{user}", status_topic=f"{SITE}/{user}/status")


def test_a_gateway_publishes_over_the_shipped_tls_listener(station, tmp_path: Path) -> None:
    reader = Reader(station.port, "engineer", f"{GW}/probe/furnace-1/temperature")
    session = tls_session(station, tmp_path, "casting-1")
    session.start()
    try:
        assert session.connected.wait(10), "no TLS connection to the shipped listener"
        session.publish(f"{GW}/probe/furnace-1/temperature", b'{"value_c": 1052.25}')
        wait_until(lambda: reader.received, message="the reading sent over TLS")
    finally:
        session.stop()
        reader.close()
    assert reader.received == [(f"{GW}/probe/furnace-1/temperature", {"value_c": 1052.25})]


def test_the_tls_listener_refuses_plaintext_and_a_foreign_ca(station, tmp_path: Path) -> None:
    # An MQTT 3.1.1 CONNECT in plaintext (client id "p", clean session): no CONNACK comes back.
    connect = bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 1]) + b"p"
    with socket.create_connection(("127.0.0.1", station.tls_port), timeout=5) as sock:
        sock.sendall(connect)
        try:
            answer = sock.recv(4)
        except (ConnectionResetError, socket.timeout):
            answer = b""
    assert not answer.startswith(b"\x20"), "plaintext MQTT was answered on the TLS port"
    make_certs(tmp_path / "foreign", "ca")
    session = tls_session(station, tmp_path, "casting-1", ca_file=str(tmp_path / "foreign" / "ca.crt"))
    session.start()
    try:
        assert not session.connected.wait(3), "connected to a broker whose certificate the foreign CA did not sign"
    finally:
        session.stop()


def test_with_require_certificate_a_client_needs_one_from_the_site_ca(tmp_path: Path) -> None:
    station = station_broker(tmp_path / "station", require_certificate=True)
    try:
        with_cert = tls_session(station, tmp_path, "casting-1", cert_file=str(station.certs / "casting-1.crt"),
                                key_file=str(station.certs / "casting-1.key"))
        with_cert.start()
        try:
            assert with_cert.connected.wait(10), "refused a client certificate made by scripts/make-certs"
        finally:
            with_cert.stop()
        without = tls_session(station, tmp_path, "casting-1")
        without.start()
        try:
            assert not without.connected.wait(3), "accepted a TLS client without a certificate"
        finally:
            without.stop()
    finally:
        station.close()
