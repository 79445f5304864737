"""The furnace historian: the probe readings the kiosk receives, kept in the ledger database.

:class:`Historian` takes readings from paho's thread (:meth:`Historian.add` only appends to a
bounded buffer) and writes them from a thread of its own every ``flush_s`` in one transaction,
so a reading costs a share of one commit, not a commit of its own. Every ``age_every_s`` it
rolls raw readings older than ``raw_days`` up into per-minute rows and drops minutes older than
``days``. While the ledger is down the buffer keeps the newest ``max_buffer`` readings; what it
had to drop is counted (``dropped``) and logged once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from benchpin.contract import Temperature
from benchpin.topics import utc_ts
from kiosk.ledger import Ledger
from kiosk.ledger.history import Reading

log = logging.getLogger(__name__)

# Every 60 s by default (kiosk.history_flush_s): a furnace probe publishes about once a second,
# and SQLite writes ~21 kB to disk per reading at one commit each, ~3.7 kB at 60 per commit and
# ~1.2 kB at 300 (bench/historian.py). A kiosk that dies loses at most this much history; the
# live screens never wait for it.
FLUSH_S = 60.0


@dataclass
class HistorianCounters:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dropped: int = 0
    write_errors: int = 0


class Historian:
    """Keep one kiosk's furnace readings: raw for ``raw_days``, per minute for ``days``."""

    def __init__(self, ledger: Callable[[], Ledger], *, raw_days: float = 7.0, days: float = 365.0,
                 flush_s: float = FLUSH_S, age_every_s: float = 3600.0, max_buffer: int = 100_000,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._ledger = ledger
        self.raw_days = raw_days
        self.days = days
        self.flush_s = flush_s
        self.age_every_s = age_every_s
        self.clock = clock
        self.counters = HistorianCounters()
        self._buffer: deque[Reading] = deque(maxlen=max_buffer)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_age = 0.0
        self._failing = False

    def add(self, gateway: str, probe: str, reading: Temperature) -> None:
        """Queue one reading (paho's thread: no I/O here). A reading without a seq cannot be deduplicated: skipped."""
        if reading.seq is None:
            return
        with self._lock:
            self.counters.received += 1
            if len(self._buffer) == self._buffer.maxlen:
                self.counters.dropped += 1
                if self.counters.dropped == 1:
                    log.error("furnace history: the ledger has not taken readings for a while; dropping the "
                              "oldest waiting ones (counted)")
            self._buffer.append((gateway, probe, reading.seq, reading.ts, reading.value_c,
                                 reading.fault.value if reading.fault else ""))

    def flush(self) -> int:
        """Write what waits in one transaction; return how many new readings were stored."""
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return 0
        try:
            stored = self._ledger().store_readings(batch)
        except Exception as exc:  # the ledger is down: keep the readings for the next try
            with self._lock:
                self._buffer.extendleft(reversed(batch))
                self.counters.write_errors += 1
            if not self._failing:
                log.error("furnace history: cannot write %d readings (%s); keeping them and retrying", len(batch), exc)
                self._failing = True
            return 0
        if self._failing:
            log.warning("furnace history: writing again")
            self._failing = False
        with self._lock:
            self.counters.stored += stored
            self.counters.duplicates += len(batch) - stored
        return stored

    def age(self) -> tuple[int, int]:
        """Roll up raw readings past ``raw_days`` and drop minutes past ``days``; return (rolled, dropped)."""
        now = self.clock()
        folded, dropped = self._ledger().age_readings(raw_before=utc_ts(now - timedelta(days=self.raw_days)),
                                                      minutes_before=utc_ts(now - timedelta(days=self.days)))
        if folded or dropped:
            log.info("furnace history: %d raw readings rolled up into minutes, %d old minutes dropped", folded, dropped)
        return folded, dropped

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="furnace-history", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()
            if time.monotonic() >= self._next_age:
                self._next_age = time.monotonic() + self.age_every_s
                try:
                    self.age()
                except Exception as exc:
                    log.warning("furnace history: ageing failed (%s); trying again later", exc)

    def stop(self) -> None:
        """Stop the thread and write what still waits."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()
