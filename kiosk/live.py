"""Live push to the kiosk screens: this kiosk's scans and its gateway's furnace temperatures.

:class:`LiveFeed` subscribes to the scan topic of each scanner in ``kiosk.scanners`` — only
those: two kiosks sharing a gateway never act on the same scan — to ``<gw>/probe/+/temperature``
of the gateway named by ``kiosk.gateway``, to the job states of ``kiosk.engraver`` and to the
weights of ``kiosk.scale`` (the last one is kept for the moves at weighed stages), and fans
each message out to every open screen's :class:`Listener` (one per server-sent-event stream).
paho's thread only decodes and puts into the listeners' queues.

The feed never pushes a badge code: whoever reads a stream would learn every badge scanned at
the bench. A badge scan is kept here under a random single-use nonce that expires after
``BADGE_NONCE_TTL_S``; the screens get only the nonce and hand it back to ``/scan``, which
redeems it (:meth:`LiveFeed.redeem_badge`). The number of open streams is bounded
(``max_listeners``): each holds a server thread, so beyond the bound :meth:`LiveFeed.listen`
raises :class:`TooManyListeners` and the screen is told to come back later.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from benchpin.config import StationConfig
from benchpin.contract import (ContractError, EngraverStatus, JobStatus, ScaleWeight, ScanMessage, Temperature,
                               topic_segment)
from benchpin.mqtt import MqttSession
from kiosk.historian import Historian
from benchpin.topics import Topics

log = logging.getLogger(__name__)

LISTENER_BACKLOG = 100  # a screen further behind than this is dropped; the browser reconnects
BADGE_PREFIX = "OP-"  # an operator badge (kiosk.ui.barcodes); its code never goes out on a stream
BADGE_NONCE_TTL_S = 10.0  # a screen redeems a pushed badge scan within this, or it is gone
RECENT_READINGS = 3600  # per probe: half an hour at 2 Hz, for the live furnace chart
_MAX_NONCES = 256  # pending badge scans kept at most (a scanner flooding badges evicts the oldest)


class TooManyListeners(Exception):
    """Every stream slot is taken; ``retry_after_s`` says when to try again."""

    def __init__(self, limit: int, retry_after_s: int) -> None:
        super().__init__(f"all {limit} live streams are open")
        self.limit = limit
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LiveMessage:
    """One thing to push to the screens: an SSE event name and its JSON data."""

    event: str  # "scan" | "temperature" | "job"
    data: dict[str, Any]

    def to_sse(self) -> bytes:
        """Encode as one server-sent event."""
        return f"event: {self.event}\ndata: {json.dumps(self.data, separators=(',', ':'))}\n\n".encode()


class Listener:
    """The queue of one open screen; ``None`` in it means the feed is stopping."""

    def __init__(self) -> None:
        self.queue: queue.Queue[LiveMessage | None] = queue.Queue(LISTENER_BACKLOG)
        self.overflowed = False

    def get(self, timeout: float) -> LiveMessage | None:
        """Return the next message; raise :class:`queue.Empty` after ``timeout`` seconds."""
        return self.queue.get(timeout=timeout)


class LiveFeed:
    """Relay one station's scans, temperatures and engraving job states to the open screens."""

    def __init__(self, config: StationConfig, *, connect: bool = True,
                 session: MqttSession | None = None, max_listeners: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``session``: the kiosk's MQTT session to share (its owner starts and stops it);
        ``max_listeners``: how many streams may be open at once (0: no bound)."""
        assert config.kiosk is not None
        self.max_listeners = max_listeners
        self._clock = clock
        self._badges: dict[str, tuple[str, float]] = {}  # nonce -> (badge code, expiry on the clock)
        self.gateway = config.kiosk.gateway
        self.engraver = config.kiosk.engraver_ref
        self.scanners = config.kiosk.scanners
        self.topics = Topics(config.site.id)
        self._temperatures: dict[str, dict[str, Any]] = {}  # probe id -> last reading
        self.scale = config.kiosk.scale_ref
        self.historian: Historian | None = None  # keeps the furnace readings, when the kiosk has a gateway
        self._recent: dict[str, deque[tuple[str, float]]] = {}  # probe -> its last readings, for the live chart
        self._weight: tuple[ScaleWeight, float] | None = None  # the scale's last reading, when received
        self._jobs: dict[str, JobStatus] = {}  # laser job id -> last state seen
        self._machine: EngraverStatus | None = None  # the laser controller's last state
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self.session: MqttSession | None = None
        self._owns_session = False
        if connect and session is not None:
            self.session = session
        elif connect and (self.gateway or self.engraver or self.scanners or self.scale):
            self._owns_session = True
            self.session = MqttSession(config.mqtt, client_id=f"benchpin-kiosk-live-{config.site.id}-"
                                                              f"{uuid.uuid4().hex[:8]}")
        if connect and not self.scanners:
            log.warning("kiosk.scanners is not set: this kiosk acts only on scans from its own "
                        "keyboard-wedge scanner")

    def start(self) -> None:
        """Subscribe and connect in the background; returns at once."""
        if self.session is None:
            return
        for scanner in self.scanners:
            self.session.subscribe(self.topics.scan(scanner.gateway, scanner.device), self.on_scan)
        if self.gateway:
            self.session.subscribe(self.topics.temperature(self.gateway, "+"), self.on_temperature)
        if self.engraver:
            self.session.subscribe(self.topics.engraver_job_states(self.engraver.gateway, self.engraver.device),
                                   self.on_job_state)
            self.session.subscribe(self.topics.engraver_state(self.engraver.gateway, self.engraver.device),
                                   self.on_machine_state)
        if self.scale:
            self.session.subscribe(self.topics.scale_weight(self.scale.gateway, self.scale.device), self.on_weight)
        if self._owns_session:
            self.session.start()

    def stop(self) -> None:
        """Disconnect and end every open stream."""
        if self.session is not None and self._owns_session:
            self.session.stop()
        with self._lock:
            listeners, self._listeners = list(self._listeners), set()
        for listener in listeners:
            _put_nowait(listener, None)

    # ------------------------------------------------------------------ screens

    def temperatures(self) -> list[dict[str, Any]]:
        """Return the last reading of every probe, by probe id."""
        with self._lock:
            return [self._temperatures[probe] for probe in sorted(self._temperatures)]

    def machine(self) -> EngraverStatus | None:
        """Return the laser controller's last reported state, or None before the first."""
        with self._lock:
            return self._machine

    def job(self, job_id: str) -> JobStatus | None:
        """Return the last state seen of a laser job, or None."""
        with self._lock:
            return self._jobs.get(job_id)

    def listen(self) -> Listener:
        """Open a stream for one screen; close it with :meth:`forget`; TooManyListeners when full."""
        listener = Listener()
        with self._lock:
            if self.max_listeners and len(self._listeners) >= self.max_listeners:
                raise TooManyListeners(self.max_listeners, retry_after_s=5)
            self._listeners.add(listener)
        return listener

    def open_streams(self) -> int:
        """Return how many streams are open."""
        with self._lock:
            return len(self._listeners)

    def redeem_badge(self, nonce: str) -> str | None:
        """Return the badge code a pushed nonce stands for, once; None if unknown, used or expired."""
        with self._lock:
            found = self._badges.pop(nonce, None)
        if found is None or found[1] < self._clock():
            return None
        return found[0]

    def _keep_badge(self, code: str) -> str:
        """Keep a scanned badge code server-side; return the nonce that stands for it."""
        nonce = secrets.token_urlsafe(18)
        now = self._clock()
        with self._lock:
            for old in [n for n, (_, expiry) in self._badges.items() if expiry < now]:
                del self._badges[old]
            while len(self._badges) >= _MAX_NONCES:
                del self._badges[next(iter(self._badges))]  # dicts keep insertion order: the oldest
            self._badges[nonce] = (code, now + BADGE_NONCE_TTL_S)
        return nonce

    def forget(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def push(self, message: LiveMessage) -> None:
        """Hand a message to every open screen; a screen that fell far behind is cut off."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if not _put_nowait(listener, message):
                log.warning("a kiosk screen is %d messages behind: closing its stream", LISTENER_BACKLOG)
                listener.overflowed = True
                self.forget(listener)

    # ------------------------------------------------------------------ MQTT (paho's thread)

    def on_scan(self, topic: str, payload: bytes) -> None:
        scan = _decode(topic, payload, ScanMessage)
        if scan is None:
            return
        scanner = topic_segment(topic, -2)
        # Lower case too: "op-0007" is refused as invalid, yet it is still the badge's number.
        if scan.code.strip().upper().startswith(BADGE_PREFIX):
            nonce = self._keep_badge(scan.code) if scan.valid else ""
            self.push(LiveMessage("scan", {"kind": "badge", "nonce": nonce, "valid": scan.valid,
                                           "reason": scan.reason or "", "scanner": scanner}))
            return
        self.push(LiveMessage("scan", {"code": scan.code, "valid": scan.valid, "reason": scan.reason or "",
                                       "scanner": scanner}))

    def on_temperature(self, topic: str, payload: bytes) -> None:
        data = _decode(topic, payload, Temperature)
        if data is None:
            return
        probe = topic_segment(topic, -2)
        if self.historian is not None:
            self.historian.add(topic_segment(topic, -4), probe, data)
        reading: dict[str, Any] = {"probe": probe, "ts": data.ts, "received_ms": int(time.time() * 1000),
                   "value_c": data.value_c, "fault": data.fault.value if data.fault else ""}
        with self._lock:
            self._temperatures[probe] = reading
            if data.value_c is not None:
                self._recent.setdefault(probe, deque(maxlen=RECENT_READINGS)).append((data.ts, data.value_c))
        self.push(LiveMessage("temperature", reading))

    def recent(self, probe: str, since: str) -> list[list[object]]:
        """The probe's readings received since ``since`` (this process's memory), as chart points."""
        with self._lock:
            found = list(self._recent.get(probe, ()))
        return [[ts, value, value, value] for ts, value in found if ts >= since]

    def on_weight(self, topic: str, payload: bytes) -> None:
        reading = _decode(topic, payload, ScaleWeight)
        if reading is None:
            return
        with self._lock:
            self._weight = (reading, self._clock())
        self.push(LiveMessage("weight", {"grams": reading.grams, "stable": reading.stable,
                                         "fault": reading.fault.value if reading.fault else ""}))

    def stable_weight(self) -> float | None:
        """The scale's weight if its last reading is stable with no fault and something on the pan, else None.

        The gateway publishes a stable weight once (again only when it changes) and every change
        to unstable or a fault at once, so the last reading is what the pan holds now.
        """
        with self._lock:
            last = self._weight
        if last is None:
            return None
        reading, _ = last
        if not reading.stable or reading.fault or reading.grams is None or reading.grams <= 0:
            return None  # nothing on the pan is no weight either
        return reading.grams

    def weight(self) -> dict[str, Any] | None:
        """The scale's last reading as the screens show it (None before the first)."""
        with self._lock:
            last = self._weight
        if last is None:
            return None
        reading, _ = last
        return {"grams": reading.grams, "stable": reading.stable,
                "fault": reading.fault.value if reading.fault else ""}

    def on_machine_state(self, topic: str, payload: bytes) -> None:
        status = _decode(topic, payload, EngraverStatus)
        if status is None:
            return
        with self._lock:
            changed = self._machine is None or self._machine.state != status.state
            self._machine = status
        if changed:  # the engraving screen shows it (and the unlock button in Alarm)
            self.push(LiveMessage("machine", {"state": status.state.value}))

    def on_job_state(self, topic: str, payload: bytes) -> None:
        status = _decode(topic, payload, JobStatus)
        if status is None:
            return
        if status.job_id != topic_segment(topic, -1):
            log.warning("ignoring a job state for %s on %s (another job's topic)", status.job_id, topic)
            return
        with self._lock:  # recorded before the push: a screen fetched because of it sees it
            self._jobs[status.job_id] = status
        self.push(LiveMessage("job", {"job_id": status.job_id, "state": status.state.value,
                                      "detail": status.detail, "progress": status.progress,
                                      "eta_s": status.eta_s}))


def _put_nowait(listener: Listener, message: LiveMessage | None) -> bool:
    try:
        listener.queue.put_nowait(message)
        return True
    except queue.Full:
        return False


_M = TypeVar("_M", ScanMessage, Temperature, JobStatus, EngraverStatus, ScaleWeight)


def _decode(topic: str, payload: bytes, message: type[_M]) -> _M | None:
    try:
        return message.from_payload(payload)
    except ContractError as exc:
        log.warning("ignoring a message on %s: %s", topic, exc)
        return None
