"""One supervisor pattern for every device: open, read, reopen with backoff, report state."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

from benchpin.flag import Flag

log = logging.getLogger(__name__)


class DeviceFailure(Exception):
    """A device stopped working in a way the supervisor recovers from by reopening it."""


class Stalled(DeviceFailure):
    """The port is open but nothing came for longer than the stall timeout."""


class Device(Protocol):
    """What a supervisor drives. ``poll`` does one bounded step (well under a second)."""

    name: str

    def open(self) -> None: ...

    def poll(self) -> None: ...

    def close(self) -> None: ...


StateListener = Callable[["Supervisor"], None]  # reads .state, .detail, .last_error


class Supervisor:
    """Keep one device running: any exception it raises leads to close, backoff, reopen.

    A :class:`DeviceFailure` is the hardware's doing and is logged as such; any other
    exception is a bug and is logged with its traceback (both once per streak).

    States: ``starting`` → ``up`` ⇄ ``down``. A failure streak ends only once the device has
    run ``stable_s`` without failing, so a port that opens but fails again at once (a stalled
    adapter) is one streak: logged once (retries go to the debug log). ``when_state_changed``
    sees every change, each ``up`` followed by its ``down``, so what it tells the broker (a
    laser ``offline``, a probe's fault) never stays ``up`` for a device that is down; reopen
    attempts that fail without the device coming up tell it nothing more. The rest of the
    gateway never sees a raw exception from hardware.
    """

    def __init__(self, device: Device, *, backoff_initial: float = 0.5, backoff_max: float = 30.0,
                 stable_s: float = 5.0, when_state_changed: StateListener | None = None) -> None:
        self.device = device
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_s = stable_s
        self._up_since = 0.0
        self.when_state_changed = when_state_changed
        self.state = "starting"
        self.detail: str | None = None
        self.last_error: BaseException | None = None
        self.failures = 0
        self.heartbeat = time.monotonic()
        self._stop = Flag()
        self._thread = threading.Thread(target=self._run, name=f"device-{device.name}", daemon=True)

    @property
    def name(self) -> str:
        return self.device.name

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close the device; safe to call twice."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _set_state(self, state: str, detail: str | None) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        self.state, self.detail = state, detail
        if self.when_state_changed:
            try:
                self.when_state_changed(self)
            except Exception:
                log.exception("state listener failed for %s", self.name)

    def _run(self) -> None:
        backoff = self.backoff_initial
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            try:
                self.device.open()
                if self.state == "down":
                    log.info("%s: open again after %d failed attempts", self.name, self.failures)
                self._up_since = time.monotonic()
                self._set_state("up", None)
                stop = self._stop
                while not stop.up:  # an attribute, not a call: this runs per reading
                    self.device.poll()
                    self.heartbeat = time.monotonic()
                    if self.failures and self.heartbeat - self._up_since >= self.stable_s:
                        self.failures = 0
                        backoff = self.backoff_initial
            except Exception as exc:  # any failure: report, close, back off, reopen
                if self.failures and self.state == "up" and time.monotonic() - self._up_since >= self.stable_s:
                    self.failures = 0
                    backoff = self.backoff_initial
                self.failures += 1
                self.last_error = exc
                detail = str(exc) or type(exc).__name__
                if self.failures == 1:
                    if isinstance(exc, DeviceFailure):
                        log.warning("%s failed: %s; reopening with backoff", self.name, detail)
                    else:  # not the hardware: a bug in benchpin, which needs its traceback
                        log.error("%s: unexpected %s (a bug, not a hardware fault): %s; reopening with backoff",
                                  self.name, type(exc).__name__, detail, exc_info=exc)
                    self._set_state("down", detail)
                else:
                    log.debug("%s still failing (attempt %d): %s", self.name, self.failures, detail)
                    if self.state == "up":  # it was reported up: the listeners learn it is down again
                        self._set_state("down", detail)
                    else:
                        self.state, self.detail = "down", detail  # same streak, never up: nothing to tell
            finally:
                self._close_device()
            if self._stop.is_set():
                break
            # Sleep in short steps so the watchdog sees a live loop while backing off.
            deadline = time.monotonic() + backoff
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.heartbeat = time.monotonic()
                self._stop.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, self.backoff_max)
        self._set_state("stopped", None)

    def _close_device(self) -> None:
        try:
            self.device.close()
        except Exception:
            log.debug("%s: error while closing", self.name, exc_info=True)

    def __repr__(self) -> str:
        return f"<Supervisor {self.name} state={self.state} failures={self.failures}>"
