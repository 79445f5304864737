"""A throttle on failed badge, PIN and API-token attempts, per client address, in bounded memory.

After ``limit`` failures within ``window_s`` a client must wait until the oldest of them is
``window_s`` old; a guesser thus gets at most ``limit`` tries per window, whatever it does.
A success does not wipe the slate: with one valid badge a guesser could otherwise reset the
count between guesses. Clients are kept in an LRU of ``max_clients``: the least recently
seen is forgotten first, so memory stays bounded however many addresses try.

The app's throttle is :func:`failures`; its settings are the app config's
``KIOSK_FAILURE_LIMIT`` (5), ``KIOSK_FAILURE_WINDOW_S`` (60) and ``KIOSK_FAILURE_CLIENTS``
(1024), e.g. ``BENCHPIN_KIOSK_FAILURE_LIMIT=5`` in the environment.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION = "benchpin.kiosk.throttle"


class Throttle:
    """Count failures per client; :meth:`wait_s` says how long a client must wait (0: not at all)."""

    def __init__(self, limit: int = 5, window_s: float = 60.0, max_clients: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0 or max_clients < 1:
            raise ValueError("limit, window_s and max_clients must be positive")
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Return the seconds ``client`` must wait before its next attempt (0.0: it may try now)."""
        with self._lock:
            return self._wait(client, self.clock())

    def failed(self, client: str) -> float:
        """Record a failed attempt by ``client``; return how long it must now wait."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                times = self._failures[client] = deque(maxlen=self.limit)
                while len(self._failures) > self.max_clients:
                    self._failures.popitem(last=False)
            times.append(now)
            self._failures.move_to_end(client)
            wait = self._wait(client, now)
        if wait:
            log.warning("client %s: %d failed attempts within %g s; refused for %.0f s",
                        client, self.limit, self.window_s, wait)
        return wait

    def _wait(self, client: str, now: float) -> float:
        times = self._failures.get(client)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window_s - now)

    def __len__(self) -> int:
        return len(self._failures)


_create_lock = threading.Lock()


def failures(app: Flask | None = None) -> Throttle:
    """Return the app's throttle (made on first use from the app config)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    throttle: Throttle | None = app.extensions.get(EXTENSION)
    if throttle is None:
        with _create_lock:
            throttle = app.extensions.get(EXTENSION)
            if throttle is None:
                throttle = Throttle(int(app.config.get("KIOSK_FAILURE_LIMIT", 5)),
                                    float(app.config.get("KIOSK_FAILURE_WINDOW_S", 60.0)),
                                    int(app.config.get("KIOSK_FAILURE_CLIENTS", 1024)))
                app.extensions[EXTENSION] = throttle
    return throttle


def client_address() -> str:
    """Return the address the request came from (the socket's: a header could be forged)."""
    from flask import request

    return request.remote_addr or "unknown"


def seconds(wait: float) -> int:
    """Round a wait up to whole seconds, as a refusal tells it."""
    return max(1, math.ceil(wait))
