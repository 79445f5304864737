"""What the gateway tells systemd: ready once devices and broker are up, alive while loops beat."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from benchpin.config import StationConfig
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.sdnotify import ServiceWatch, watchdog_interval
from gateway.supervisor import Supervisor


PROC_IO = Path("/proc/self/io")


def parse_write_bytes(text: str) -> int | None:
    """``write_bytes`` of a ``/proc/<pid>/io`` text: bytes the process sent to storage; None if absent."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == "write_bytes":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def process_write_bytes(path: Path = PROC_IO) -> int | None:
    """Bytes this process has caused to be written to storage (SQLite's pages, its WAL, logs).

    The kernel's count (``/proc/self/io``), which is what wears an SD card, unlike the
    outbox's own count of the message bytes it stored. None where the kernel does not say.
    """
    try:
        return parse_write_bytes(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


class Watched(Protocol):
    """What the health check reads of a gateway."""

    config: StationConfig
    session: MqttSession
    sender: OutboxSender
    supervisors: list[Supervisor]

    def healthy(self, max_age_s: float = ...) -> bool: ...


class GatewayHealth:
    """The gateway's answers to :class:`ServiceWatch`: what start-up waits for, what is wrong.

    Start-up waits until every device has been ``up`` once (a device that opened and failed
    later is reported on the MQTT status topic, not here) and the broker session is connected.
    The gateway is healthy while every device loop and the outbox sender have beaten within
    ``max_age_s`` (systemd's watchdog interval), so a device stuck inside ``poll()`` stops the
    watchdog pings.
    """

    def __init__(self, gateway: Watched) -> None:
        self.gateway = gateway
        self._seen_up: set[str] = set()

    def waiting_for(self) -> list[str]:
        """Name the broker if not connected and every device that has never been up."""
        gw = self.gateway
        missing = []
        if not gw.session.connected.is_set():
            missing.append(f"broker {gw.config.mqtt.host}:{gw.config.mqtt.port}")
        for supervisor in gw.supervisors:
            if supervisor.state == "up":
                self._seen_up.add(supervisor.name)
            if supervisor.name not in self._seen_up:
                missing.append(f"{supervisor.name} ({supervisor.detail or supervisor.state})")
        return missing

    def problems(self, max_age_s: float) -> list[str]:
        """Name every loop whose heartbeat is older than ``max_age_s``; empty when healthy."""
        gw = self.gateway
        if gw.healthy(max_age_s):
            return []
        now = time.monotonic()
        loops = [(s.name, s.heartbeat) for s in gw.supervisors] + [("outbox sender", gw.sender.heartbeat)]
        return [f"{name} loop silent for {now - beat:.0f}s" for name, beat in loops if now - beat >= max_age_s]


def systemd_watch(gateway: Watched, ready_timeout_s: float) -> ServiceWatch:
    """Build the gateway's :class:`ServiceWatch` (inert when not started by systemd)."""
    health = GatewayHealth(gateway)
    interval_s = watchdog_interval()
    max_age_s = interval_s or 30.0  # a loop silent for a whole watchdog interval is hung
    return ServiceWatch(waiting_for=health.waiting_for, problems=lambda: health.problems(max_age_s),
                        ready_timeout_s=ready_timeout_s, interval_s=interval_s)
