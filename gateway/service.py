"""The station gateway service: every configured device, one outbox, one MQTT session."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from benchpin.config import StationConfig
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.outbox import Outbox
from benchpin.topics import Topics
from gateway.engravers import build_engravers, journal_path
from gateway.health import process_write_bytes, systemd_watch
from gateway.probes import build_probes
from gateway.scales import build_scales
from gateway.scanners import build_scanners
from gateway.stack_light import build_indicators
from gateway.supervisor import Device, StateListener, Supervisor
from gateway.wiring import Wiring

log = logging.getLogger(__name__)


class Gateway:
    """One station's gateway: supervised devices publishing through a durable outbox.

    ``pin_factory`` is gpiozero's (``None``: gpiozero's default for the platform);
    ``usb_backend`` is pyusb's (``None``: libusb).
    """

    def __init__(self, config: StationConfig, *, pin_factory: Any = None, usb_backend: Any = None) -> None:
        if config.gateway is None:
            raise ValueError("the config has no [gateway] section")
        self.config = config
        self.gw = config.gateway
        self.pin_factory = pin_factory
        self.usb_backend = usb_backend
        self.topics = Topics(config.site.id)
        self._write_bytes_at_start = process_write_bytes()  # before the outbox opens: its writes count
        state_dir = Path(self.gw.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(state_dir / "outbox.sqlite", max_messages=self.gw.outbox.max_messages,
                             synchronous=self.gw.outbox.synchronous,
                             commit_interval_ms=self.gw.outbox.commit_interval_ms,
                             max_packet_bytes=config.mqtt.max_packet_bytes)
        self._started_at = time.monotonic()
        self.session = MqttSession(config.mqtt, client_id=f"benchpin-{config.site.id}-{self.gw.id}",
                                   status_topic=self.topics.status(self.gw.id),
                                   status_extra=self.status_extra)
        self.sender = OutboxSender(self.outbox, self.session, window=self.gw.outbox.window,
                                   rate=self.gw.outbox.replay_rate)
        self.supervisors: list[Supervisor] = []
        self.counters: dict[str, Any] = {}
        self._stopped = threading.Event()
        self._started = False
        self.closers: list[Callable[[], None]] = []  # run by stop() after the devices stopped
        wiring = Wiring(gateway_id=self.gw.id, outbox=self.outbox, topics=self.topics, add_device=self.add_device,
                        subscribe=self.session.subscribe, barcodes=config.barcodes, pin_factory=pin_factory,
                        usb_backend=usb_backend, closers=self.closers, publish_direct=self.publish_direct)
        bridges = build_probes(self.gw.probes, wiring)
        self.indicators = build_indicators(self.gw.indicators, self.gw.probes, bridges, wiring)
        build_scales(self.gw.scales, wiring)
        build_scanners(self.gw.scanners, wiring)
        self.engravers = build_engravers(self.gw.engravers, journal_path(self.gw), wiring)

    # ------------------------------------------------------------------ devices

    def publish_direct(self, topic: str, payload: bytes) -> None:
        """Hand a retained QoS 1 message to paho on its own thread, bypassing the outbox."""
        def publish() -> None:
            self.session.publish(topic, payload, qos=1, retain=True)

        self.session.call_soon(publish)

    def add_device(self, device: Device, *, counters: Any = None,
                   when_state_changed: StateListener | None = None) -> Supervisor:
        """Put a device under supervision; it starts with the gateway."""
        supervisor = Supervisor(device, backoff_initial=self.gw.backoff_initial_s,
                                backoff_max=self.gw.backoff_max_s, when_state_changed=when_state_changed)
        self.supervisors.append(supervisor)
        if counters is not None:
            self.counters[device.name] = counters
        return supervisor

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Start the MQTT session, the outbox sender and every device; returns at once."""
        if self._started:
            return
        self._started = True
        self.session.start()
        self.sender.start()
        for supervisor in self.supervisors:
            supervisor.start()
        log.info("gateway %s/%s started: %d devices, outbox %s", self.config.site.id, self.gw.id,
                 len(self.supervisors), self.outbox.path)

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, publishing the retained status every status interval."""
        self.start()
        systemd = systemd_watch(self, self.gw.ready_timeout_s)  # READY=1, then WATCHDOG=1 only while healthy()
        next_status = time.monotonic() + self.gw.status_interval_s
        while not stop.wait(max(0.0, min(1.0, next_status - time.monotonic(), systemd.due_in()))):
            if time.monotonic() >= next_status:
                self.session.publish_status()
                next_status = time.monotonic() + self.gw.status_interval_s
            systemd.tick()
        systemd.stopping()
        self.stop()

    def healthy(self, max_age_s: float = 30.0) -> bool:
        """True while every loop (devices and outbox sender) has run within ``max_age_s``."""
        now = time.monotonic()
        loops = [s.heartbeat for s in self.supervisors] + [self.sender.heartbeat]
        return all(now - beat < max_age_s for beat in loops)

    def status_extra(self) -> dict[str, Any]:
        """What the retained status carries beyond ``state``: outbox and device health."""
        devices = {}
        for supervisor in self.supervisors:
            entry: dict[str, Any] = {"state": supervisor.state}
            if supervisor.detail:
                entry["detail"] = supervisor.detail
            counters = self.counters.get(supervisor.name)
            if counters is not None:
                entry.update(asdict(counters))
            # "probe:furnace-1": a key without spaces, easy to address in a dashboard query
            devices[supervisor.name.replace(" ", ":", 1)] = entry
        outbox: dict[str, Any] = {"pending": self.outbox.pending, "dropped": self.outbox.dropped,
                                  "inflight": self.sender.inflight, "dead_letters": self.outbox.dead,
                                  "bytes_written": self.outbox.bytes_written}
        if self.outbox.recovered_from:
            outbox["recovered_from"] = self.outbox.recovered_from
        if self.outbox.write_error:
            outbox["write_error"] = self.outbox.write_error
        try:
            disk_free: int | None = shutil.disk_usage(self.outbox.path.parent).free
        except OSError:
            disk_free = None
        written, start = process_write_bytes(), self._write_bytes_at_start
        return {
            "outbox": outbox,
            "devices": devices,
            "uptime_s": round(time.monotonic() - self._started_at, 1),
            "load_1m": round(os.getloadavg()[0], 2),
            "disk_free_bytes": disk_free,
            "disk_bytes_written": written - start if written is not None and start is not None else None,
        }

    def stop(self) -> None:
        """Stop devices, then the sender, publish ``offline`` and close the outbox; idempotent."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        for supervisor in self.supervisors:
            supervisor.stop()
        for close in self.closers:
            close()
        self.outbox.flush(timeout=5.0)
        self.sender.stop()
        self.session.stop()
        self.outbox.close()
        log.info("gateway %s/%s stopped", self.config.site.id, self.gw.id)

    def __enter__(self) -> Gateway:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
