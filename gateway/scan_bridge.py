"""The scan bridge: validates each code a scanner read, drops double reads, publishes the scan.

Every scanner kind (serial, USB HID) hands what it reads to one :class:`ScanBridge`, which
puts each scan in the outbox for ``<gw>/scanner/<id>/scan``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from benchpin.contract import ScanMessage
from benchpin.outbox import Outbox, OutboxWriteError
from benchpin.topics import utc_ts
from firmware_bridge.barcodes import BarcodeRules, validate
from firmware_bridge.hid import ReadError, Scan
from gateway.supervisor import Supervisor

log = logging.getLogger(__name__)


@dataclass
class ScannerCounters:
    scans: int = 0
    invalid: int = 0
    duplicates: int = 0
    bad_reads: int = 0
    reopens: int = 0
    rejected: int = 0  # scans the outbox refused (the disk refuses writes): not published
    last_bad_read: str = ""


class ScanBridge:
    """Validate, de-duplicate and publish one scanner's codes through the outbox.

    The same code within ``dedupe_s`` of its last published scan is a double read and is only
    counted. Bad reads (garbage, unknown keys, overlong lines) are counted and logged, once per
    streak as a warning, and never published: the scan topic carries what a person scanned.
    """

    def __init__(self, outbox: Outbox, topic: str, scanner_id: str, rules: BarcodeRules, *,
                 dedupe_s: float = 1.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.topic = topic
        self.seq_key = f"scanner/{scanner_id}"
        self.rules = rules
        self.dedupe_s = dedupe_s
        self.clock = clock
        self.counters = ScannerCounters()
        self._recent: dict[str, float] = {}
        self._in_bad_streak = False
        self._lock = threading.Lock()

    def handle_event(self, event: Scan | ReadError) -> None:
        if isinstance(event, Scan):
            self.handle_code(event.code)
        else:
            self.handle_bad_read(event.message)

    def handle_code(self, code: str) -> bool:
        """Publish ``code`` unless it is a double read; return whether it was published."""
        now = self.clock()
        with self._lock:
            self._in_bad_streak = False
            self._recent = {c: t for c, t in self._recent.items() if now - t < self.dedupe_s}
            if code in self._recent:
                self.counters.duplicates += 1
                log.debug("%s: %r again within %gs: one scan", self.topic, code, self.dedupe_s)
                return False
            self._recent[code] = now
        verdict = validate(code, self.rules)
        scan = ScanMessage(ts=utc_ts(), seq=None, code=code, valid=verdict.valid,
                           reason=verdict.reason)
        try:
            self.outbox.put(self.topic, scan.to_payload(), seq_key=self.seq_key, kind="scan", wait=True)
        except OutboxWriteError as exc:
            # Refused, not lost silently: counted, logged, and forgotten so the artisan's rescan counts.
            with self._lock:
                self.counters.rejected += 1
                self._recent.pop(code, None)
                first = self.counters.rejected == 1
            (log.error if first else log.debug)("%s: scan %r not accepted: %s", self.topic, code, exc)
            return False
        with self._lock:
            self.counters.scans += 1
            if not verdict.valid:
                self.counters.invalid += 1
        return True

    def handle_bad_read(self, message: str) -> None:
        with self._lock:
            self.counters.bad_reads += 1
            self.counters.last_bad_read = message
            first, self._in_bad_streak = not self._in_bad_streak, True
        if first:
            log.warning("%s: bad read: %s", self.topic, message)
        else:
            log.debug("%s: bad read: %s", self.topic, message)

    def when_state_changed(self, supervisor: Supervisor) -> None:
        if supervisor.state == "down":
            self.counters.reopens += 1


def hand_on(bridge: ScanBridge, error: ReadError | None, context: str = "") -> None:
    """Pass a framing or decoding error to the bridge, if there is one."""
    if error is not None:
        bridge.handle_bad_read(context + error.message)
