"""Shared pieces of the engraver tests: a station config, job messages, a GRBL simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchpin.config import EngraverConfig, parse_config
from firmware_bridge.sim.grbl import GrblSim
from gateway.engraver_jobs import plan_job
from tests import stations
from tests.helpers import Subscriber, wait_until

SITE, GW, LASER = "jaipur", "engraving-1", "laser-1"
PREFIX = f"benchpin/{SITE}/{GW}/engraver/{LASER}"
JOB_TOPIC = f"{PREFIX}/job"
STATE_TOPIC = f"{PREFIX}/state"
DOOR_PIN = 17


def laser(path: Path, speedup: float = 1.0, **options: Any) -> GrblSim:
    """A faithful GRBL 1.1h simulator configured as the workshop's laser ($32=1)."""
    return GrblSim(str(path), speedup=speedup, faithful=True, laser_mode=True, **options)


def station(tmp_path: Path, port: int, link: Path, *, door: bool = True,
            reply_timeout_s: float = 5.0, **options: Any) -> dict[str, Any]:
    engraver: dict[str, Any] = {"id": LASER, "port": str(link), "status_interval_s": 0.05,
                                "reply_timeout_s": reply_timeout_s, "max_width_mm": 40.0, **options}
    if door:
        engraver["door_pin"] = DOOR_PIN
    return stations.station(tmp_path, port, site=SITE, gateway={"id": GW, "engravers": [engraver]})


def engraver_config(data: dict[str, Any]) -> EngraverConfig:
    config = parse_config(data).gateway
    assert config is not None
    return config.engravers[0]


def job(job_id: str, text: str = "PC-0042", material: str = "silver_925", height_mm: float = 1.5) -> dict[str, Any]:
    return {"job_id": job_id, "piece_id": "PC-0042", "serial": text, "text": text, "material": material,
            "height_mm": height_mm}


def program(data: dict[str, Any], message: dict[str, Any]) -> list[str]:
    """The G-code the gateway generates for ``message`` under the station ``data``."""
    return list(plan_job(json.dumps(message).encode(), engraver_config(data))[2])


def publish(sub: Subscriber, topic: str, payload: dict[str, Any]) -> None:
    sub.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)


def states(sub: Subscriber, job_id: str) -> list[str]:
    """The job's states in order: a message resent after a restart (same ``seq``) counted once,
    and progress updates of a running job (``running`` again) folded into one ``running``."""
    seen: set[int] = set()
    out: list[str] = []
    for message in job_messages(sub, job_id):
        if message["seq"] not in seen:
            seen.add(message["seq"])
            if not (out and out[-1] == message["state"] == "running"):
                out.append(message["state"])
    return out


def job_messages(sub: Subscriber, job_id: str) -> list[dict[str, Any]]:
    """Every JSON message on the job's state topic (an empty one, a cleared retained topic, skipped)."""
    topic = f"{PREFIX}/job/{job_id}"
    with sub._cond:
        items = list(sub.messages)
    return [json.loads(payload) for t, payload, _ in items if t == topic and payload]


def wait_state(sub: Subscriber, job_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
    """Wait for ``state`` on the job's topic and return that message."""
    found: list[dict[str, Any]] = wait_until(lambda: [m for m in job_messages(sub, job_id) if m["state"] == state],
                                             timeout=timeout, message=f"job {job_id} {state}")
    return found[-1]


def gcode_after_last_settings_query(received: bytes) -> bytes:
    """What the simulator received after the gateway's last ``$$`` pre-fire check."""
    return received[received.rindex(b"$$\n") + 3:]


def status_polls(events: list[tuple[str, str]]) -> int:
    return sum(1 for e in events if e == ("rt", "?"))


def wait_polls(sim: Any, more: int) -> None:
    """Wait until the gateway has asked the laser for status ``more`` more times."""
    start = status_polls(sim.events)
    wait_until(lambda: status_polls(list(sim.events)) >= start + more, message=f"{more} more status polls")
