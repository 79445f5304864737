"""systemd's notify protocol without libsystemd: readiness, watchdog pings, status text.

A unit with ``Type=notify`` starts its service with ``$NOTIFY_SOCKET``, the address of a
datagram socket (a leading ``@`` means Linux's abstract namespace), and with ``WatchdogSec=``
also ``$WATCHDOG_USEC``. The service sends newline-separated ``KEY=value`` fields there:
``READY=1`` once it works, ``WATCHDOG=1`` more often than ``WatchdogSec`` while it is alive,
``STATUS=…`` for ``systemctl status`` and ``STOPPING=1`` on the way out. Outside systemd
both variables are unset and everything here does nothing.

:class:`ServiceWatch` is the policy every benchpin service shares: ``READY=1`` once nothing
is missing (or, degraded, after a start timeout), ``WATCHDOG=1`` only while the service's own
health check passes, so a hung loop stops the pings and systemd restarts the service. The
gateway ticks it from its main loop; :func:`watch_http_service` runs it in a thread for a
server such as the kiosk, checking the server's own health URL.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Callable, Literal, Mapping

log = logging.getLogger(__name__)

Check = Callable[[], list[str]]  # what is missing or wrong, one short phrase each; empty: fine


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Return systemd's watchdog interval in seconds for this process, or None when unwatched."""
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. our parent's watchdog)
    try:
        value = int(usec)
    except ValueError:
        if usec:
            log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None
    return value / 1_000_000 if value > 0 else None


class Notifier:
    """This service's line to systemd's notify socket; a no-op when there is none."""

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.address = address
        self._failed = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, **fields: str) -> bool:
        """Send ``KEY=value`` fields in one datagram; return False if it could not be sent."""
        if not self.address or not fields:
            return False
        # A newline would start a new field: keep each value on one line.
        text = "".join(f"{key}={' '.join(str(value).splitlines())}\n" for key, value in fields.items())
        try:
            # A socket per message (a few a minute): nothing to keep open or close.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(text.encode("utf-8"), self.address)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify systemd at %r: %s", self.address.replace("\0", "@"), exc)
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send(READY="1", **({"STATUS": status} if status else {}))

    def watchdog(self) -> bool:
        return self.send(WATCHDOG="1")

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def stopping(self, status: str = "stopping") -> bool:
        return self.send(STOPPING="1", STATUS=status)


class ServiceWatch:
    """Tell systemd when a service is ready and, only while it is healthy, that it is alive.

    ``waiting_for()`` names what the service still needs before it counts as started (devices
    never opened, a broker not connected); ``problems()`` names what is wrong right now (a loop
    that stopped beating). ``READY=1`` goes out when ``waiting_for()`` is empty, or after
    ``ready_timeout_s`` with a ``STATUS`` naming what is missing, because a station that buffers
    to its outbox while the broker is down is still doing its job. ``WATCHDOG=1`` goes out
    every half interval while ``problems()`` is empty.

    Call :meth:`tick` from the service's own main loop, at least every :meth:`due_in` seconds,
    so a hung main loop stops the pings too; or run :meth:`run` in a thread of its own when the
    main thread belongs to a server (then ``problems()`` must cover that server).
    """

    def __init__(self, *, waiting_for: Check, problems: Check, ready_timeout_s: float = 60.0,
                 notifier: Notifier | None = None,
                 interval_s: float | None | Literal["environment"] = "environment") -> None:
        self.notifier = notifier if notifier is not None else Notifier()
        # None: no watchdog (no pings); by default systemd's WatchdogSec from $WATCHDOG_USEC.
        self.interval_s = watchdog_interval() if interval_s == "environment" else interval_s
        self.waiting_for = waiting_for
        self.problems = problems
        self.ready_timeout_s = ready_timeout_s
        self.ready = False
        self._started = time.monotonic()
        self._next_ping = self._started
        self._status = ""
        self._unhealthy = False
        self._stopping_sent = False
        self._stopping_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.notifier.enabled

    def due_in(self) -> float:
        """Seconds until :meth:`tick` has something to do."""
        if not self.enabled:
            return 3600.0
        if not self.ready:
            return 0.1
        if self.interval_s is None:
            return 3600.0
        return max(0.0, self._next_ping - time.monotonic())

    def tick(self) -> None:
        """Send whatever is due: readiness, a status change, a watchdog ping."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not self.ready:
            self._check_ready(now)
        if self.interval_s is not None and now >= self._next_ping:
            self._check_health(now, self.interval_s)

    def _check_ready(self, now: float) -> None:
        missing = self.waiting_for()
        if not missing:
            self.ready = True
            self._set_status("ready", ready=True)
            log.info("told systemd the service is ready")
        elif now - self._started >= self.ready_timeout_s:
            self.ready = True
            text = "degraded: waiting for " + "; ".join(missing)
            self._set_status(text, ready=True)
            log.warning("not everything is up after %gs; telling systemd we are ready anyway (%s)",
                        self.ready_timeout_s, text)
        else:
            self._set_status("starting: waiting for " + "; ".join(missing))

    def _check_health(self, now: float, interval_s: float) -> None:
        problems = self.problems()
        if problems:
            text = "unhealthy: " + "; ".join(problems)
            if not self._unhealthy:
                log.error("%s; withholding watchdog pings so systemd restarts the service", text)
                self._unhealthy = True
            self._set_status(text)
            self._next_ping = now + min(1.0, interval_s / 4)  # look again soon
            return
        if self._unhealthy:
            log.info("healthy again; watchdog pings resume")
            self._unhealthy = False
        if self.ready:
            missing = self.waiting_for()
            self._set_status("degraded: waiting for " + "; ".join(missing) if missing else "ready")
        self.notifier.watchdog()
        self._next_ping = now + interval_s / 2

    def _set_status(self, text: str, *, ready: bool = False) -> None:
        if ready:
            self.notifier.ready(text)
        elif text != self._status:
            self.notifier.status(text)
        self._status = text

    def stopping(self) -> None:
        """Tell systemd the service is shutting down (no more pings expected); once only."""
        with self._stopping_lock:
            if self._stopping_sent or not self.enabled:
                return
            self._stopping_sent = True
        self.notifier.stopping()

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, then send ``STOPPING=1``; for a thread of its own."""
        while not stop.wait(min(1.0, self.due_in())):
            self.tick()
        self.stopping()

    def start_thread(self, stop: threading.Event) -> threading.Thread:
        """Run :meth:`run` in a daemon thread: for a service whose main thread is a server."""
        thread = threading.Thread(target=self.run, args=(stop,), name="systemd-watch", daemon=True)
        thread.start()
        return thread


def watch_http_service(health_url: str, *, waiting_for: Check | None = None, ready_timeout_s: float = 60.0,
                       timeout_s: float = 5.0, notifier: Notifier | None = None,
                       interval_s: float | None | Literal["environment"] = "environment") -> threading.Event:
    """Tell systemd a server is ready, and alive while ``health_url`` answers; return the stop event.

    For a service whose main thread blocks in its server (the kiosk in waitress): ``READY=1``
    once the URL answers 2xx and ``waiting_for()`` (say, the MQTT session) is empty, then
    ``WATCHDOG=1`` only while the URL keeps answering, so hung request threads or a dead ledger
    behind ``/healthz`` stop the pings. Set the returned event on shutdown (sends ``STOPPING=1``)::

        stop = watch_http_service(f"http://127.0.0.1:{port}/healthz", waiting_for=broker_missing)
        serve(app, ...)
        stop.set()
    """
    def waiting() -> list[str]:
        return http_problems(health_url, timeout_s) + (waiting_for() if waiting_for else [])

    watch = ServiceWatch(waiting_for=waiting, problems=lambda: http_problems(health_url, timeout_s),
                         ready_timeout_s=ready_timeout_s, notifier=notifier, interval_s=interval_s)
    stop = _StopWatch(watch)
    watch.start_thread(stop)
    return stop


class _StopWatch(threading.Event):
    """The stop event of :func:`watch_http_service`: ``set()`` sends ``STOPPING=1`` at once.

    On the caller's thread, not the watch's: that thread may be in the middle of a health check
    when the service stops, and a daemon thread dies with the process before it can send.
    """

    def __init__(self, watch: ServiceWatch) -> None:
        super().__init__()
        self._watch = watch

    def set(self) -> None:
        super().set()
        self._watch.stopping()


def http_problems(url: str, timeout: float = 5.0) -> list[str]:
    """GET ``url``; return [] on a 2xx answer, else one phrase saying what went wrong."""
    # No proxy: a plant's http_proxy must not stand between a service and itself.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return [f"{url} unreachable ({reason})"]
    return [] if 200 <= status < 300 else [f"{url} answered {status}"]
