"""Who may read and write what on the shipped station broker, role by role.

Every case runs against a real mosquitto started from the shipped mosquitto.conf (paths and
ports moved), the shipped benchpin.acl and a password file made with mosquitto_passwd. Writes are
published with MQTT 5, so a refusal is the broker's "Not authorized" reason code; reads are
checked with a subscriber to ``benchpin/#`` per user and a barrier message published last.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.mosquitto_station import Reader, publish_as, station_broker

SITE = "benchpin/jaipur"
GW = f"{SITE}/casting-1"
# One concrete topic of each kind on gateway casting-1, and who may write it.
WRITERS = {
    f"{GW}/status": {"casting-1"},
    f"{GW}/probe/furnace-1/temperature": {"casting-1"},
    f"{GW}/scanner/bench-3/scan": {"casting-1"},
    f"{GW}/engraver/laser-1/state": {"casting-1"},
    f"{GW}/engraver/laser-1/job/J-1": {"casting-1"},
    f"{GW}/engraver/laser-1/job": {"kiosk"},
    f"{GW}/engraver/laser-1/job/J-1/command": {"kiosk"},
    f"{GW}/engraver/laser-1/command": {"kiosk"},
    f"{GW}/probe/furnace-1/window": {"kiosk"},
    f"{SITE}/pieces/PC-1/events": {"kiosk"},
    f"{SITE}/kiosk/casting/status": {"kiosk"},
    f"{GW}/scale/balance-1/weight": {"casting-1"},
    f"{GW}/scale/balance-1/command": {"kiosk"},
}
# Who may read each of them. casting-2, another gateway, reads none of casting-1's topics.
READERS = {
    f"{GW}/status": {"engineer", "kiosk"},
    f"{GW}/probe/furnace-1/temperature": {"engineer", "kiosk"},
    f"{GW}/scanner/bench-3/scan": {"kiosk"},
    f"{GW}/engraver/laser-1/state": {"engineer", "kiosk"},
    f"{GW}/engraver/laser-1/job/J-1": {"engineer", "kiosk"},
    f"{GW}/engraver/laser-1/job": {"casting-1"},
    f"{GW}/engraver/laser-1/job/J-1/command": {"casting-1"},
    f"{GW}/engraver/laser-1/command": {"casting-1"},
    f"{GW}/probe/furnace-1/window": {"casting-1", "kiosk"},
    f"{SITE}/pieces/PC-1/events": {"engineer"},
    f"{SITE}/kiosk/casting/status": {"engineer", "kiosk"},
    f"{GW}/scale/balance-1/weight": {"engineer", "kiosk"},
    f"{GW}/scale/balance-1/command": {"casting-1"},
}
ROLES = ("casting-1", "casting-2", "kiosk", "engineer")


@pytest.fixture
def station(tmp_path: Path):
    broker = station_broker(tmp_path / "station")
    yield broker
    broker.close()


def test_the_tables_cover_the_same_topics() -> None:
    assert set(WRITERS) == set(READERS)


def test_each_role_writes_exactly_its_topics(station) -> None:
    # With nobody subscribed, an accepted publish is answered "No matching subscribers" (0x10, a success).
    answers = {(topic, user): publish_as(station.port, user, topic, {"by": user}).replace("No matching subscribers",
                                                                                         "Success")
               for topic in WRITERS for user in ROLES}
    expected = {(topic, user): "Success" if user in WRITERS[topic] else "Not authorized"
                for topic in WRITERS for user in ROLES}
    wrong = {key: answer for key, answer in answers.items() if answer != expected[key]}
    assert not wrong, f"(topic, user) -> broker's answer, where it differs from the ACL's intent: {wrong}"


def test_each_role_reads_exactly_its_topics(station) -> None:
    readers = {user: Reader(station.port, user, "benchpin/#") for user in ROLES}
    # A barrier per reader, published after every other message: once a reader has it, it has
    # everything it was going to get (one broker, QoS 1, in order per subscriber).
    barriers = {"casting-1": ("kiosk", f"{GW}/engraver/laser-1/command"),
                "casting-2": ("kiosk", f"{SITE}/casting-2/engraver/laser-9/command"),
                "kiosk": ("casting-1", f"{GW}/status"),
                "engineer": ("casting-1", f"{GW}/status")}
    try:
        for topic, writers in WRITERS.items():
            [writer] = writers
            assert publish_as(station.port, writer, topic, {"by": writer}) == "Success"
        for user, (writer, topic) in barriers.items():
            assert publish_as(station.port, writer, topic, {"barrier": user}) == "Success"
        for user, reader in readers.items():
            wait_until(lambda: any(p.get("barrier") == user for _, p in reader.received),
                       message=f"the barrier for {user}")
    finally:
        for reader in readers.values():
            reader.close()
    for user, reader in readers.items():
        got = {topic for topic, payload in reader.received if "barrier" not in payload}
        assert got == {topic for topic, who in READERS.items() if user in who}, f"{user} read {sorted(got)}"


def test_only_the_gateway_itself_publishes_its_scans(station) -> None:
    """A scan badges an operator in: nobody but the scanner's own gateway may publish one."""
    scan = f"{GW}/scanner/bench-3/scan"
    kiosk = Reader(station.port, "kiosk", f"{SITE}/+/scanner/+/scan")
    badge = {"ts": "2026-12-02T17:08:56.053Z", "seq": 1, "code": "OP-SUP", "valid": True, "reason": None}
    try:
        for user in ("kiosk", "engineer", "casting-2"):
            assert publish_as(station.port, user, scan, {**badge, "by": user}) == "Not authorized", user
            if user == "casting-2":
                continue  # a gateway publishes its own scans, under its own id
            # Nor under its own name, as if it were a gateway called "kiosk" or "engineer".
            fake = f"{SITE}/{user}/scanner/bench-3/scan"
            assert publish_as(station.port, user, fake, {**badge, "by": user}) == "Not authorized", fake
        assert publish_as(station.port, "casting-1", scan, {**badge, "by": "casting-1"}) == "Success"
        wait_until(lambda: kiosk.received, message="the gateway's own scan")
    finally:
        kiosk.close()
    assert [(topic, payload["by"]) for topic, payload in kiosk.received] == [(scan, "casting-1")]
