"""The kiosk's production server (waitress) and ``benchpin kiosk --config FILE``.

Server-sent events need two things from waitress: every write flushed to the socket at once
(``send_bytes=1``; waitress queues a task's output in the channel's buffer and sends only once
``send_bytes`` have gathered — older releases defaulted to 18000, so it is set explicitly)
and a worker thread per open screen for as long as its stream is open (``kiosk.threads``).

Slow or idle clients cost no thread (waitress reads requests in its event loop), only a
connection, so the connection limit is set far above what a workshop needs: 200 clients that
send half a request and stall leave room for the screens and ``/healthz``. A connection that
says nothing for ``CHANNEL_TIMEOUT_S`` is closed (checked every ``CLEANUP_INTERVAL_S``); a
request body beyond ``MAX_REQUEST_BODY`` is refused by waitress before it is read (the app
itself refuses anything above its ``MAX_CONTENT_LENGTH`` with a clearer message).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import threading
import warnings
from typing import Any, Mapping

import waitress.server
from waitress import wasyncore
from waitress.server import BaseWSGIServer

from benchpin.config import StationConfig

log = logging.getLogger(__name__)

CONNECTION_LIMIT = 1000  # open connections at once; beyond it new ones wait in the listen backlog
CHANNEL_TIMEOUT_S = 30  # a connection with no request under way is closed after this much silence
CLEANUP_INTERVAL_S = 5
MAX_REQUEST_BODY = 1024 * 1024  # waitress drops larger bodies unread; the app's own cap is lower


def _raise_open_file_limit(wanted: int) -> None:
    """Raise the soft limit on open files towards ``wanted`` (a Pi's default of 1024 is too low)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d (%s): the kiosk may refuse "
                        "connections sooner", soft, target, exc)


def create_server(app: Any, listen: str, *, threads: int) -> BaseWSGIServer:
    """Bind waitress to ``HOST:PORT`` (port 0: any free port) with streaming-friendly settings."""
    host, port = listen.rsplit(":", 1)
    _raise_open_file_limit(CONNECTION_LIMIT + 256)  # the ledger, outboxes, MQTT and logs need some too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # send_bytes is deprecated, still honoured
        server = waitress.server.create_server(
            app, host=host.strip("[]"), port=int(port), threads=threads,
            send_bytes=1,  # flush each server-sent event as soon as it is written
            connection_limit=CONNECTION_LIMIT, channel_timeout=CHANNEL_TIMEOUT_S,
            cleanup_interval=CLEANUP_INTERVAL_S, max_request_body_size=MAX_REQUEST_BODY,
            asyncore_use_poll=True,  # select() cannot watch a descriptor numbered 1024 or above
            ident="benchpin-kiosk", clear_untrusted_proxy_headers=True)
    assert isinstance(server, BaseWSGIServer)
    return server


class KioskServer:
    """The kiosk app served by waitress on a background thread, stoppable from any thread."""

    def __init__(self, config: StationConfig, test_config: Mapping[str, Any] | None = None, *,
                 listen: str | None = None) -> None:
        from kiosk.app import create_app

        assert config.kiosk is not None
        self.config = config
        self.app = create_app(config, test_config)
        self.server = create_server(self.app, listen or config.kiosk.listen, threads=config.kiosk.threads)
        self._thread = threading.Thread(target=self.run, name="kiosk-server", daemon=True)
        self._stopped = threading.Event()
        self._serving = threading.Event()
        self._served = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server.effective_port)  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        host = self.server.effective_host  # type: ignore[attr-defined]
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{host}:{self.port}"

    def waiting_for(self) -> list[str]:
        """Name what the kiosk still lacks to be fully up (for systemd's readiness)."""
        from kiosk.state import kiosk_state
        from kiosk.ui.state import ui_state

        missing = []
        bridge = kiosk_state(self.app).bridge
        live = ui_state(self.app).live.session
        for name, session in (("event outbox", bridge.session if bridge else None), ("live scans", live)):
            if session is not None and not session.connected.is_set():
                missing.append(f"MQTT broker {self.config.mqtt.host}:{self.config.mqtt.port} ({name})")
        return missing

    def start(self) -> KioskServer:
        """Serve on a background thread; returns at once."""
        self._thread.start()
        return self

    def run(self) -> None:
        """Serve until :meth:`stop` (blocks)."""
        log.info("kiosk %s (%s) listening on %s", self.config.kiosk.id, self.config.kiosk.name,  # type: ignore[union-attr]
                 self.url)
        self._serving.set()
        try:
            self.server.run()
        except (OSError, ValueError):  # a descriptor closed under select() while stopping
            if not self._stopped.is_set():
                raise
        finally:
            self._served.set()

    def stop(self) -> None:
        """End the open streams, stop the workers and the loop, close the app; safe to call twice."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        from kiosk.app import close_app
        from kiosk.ui import close_ui

        close_ui(self.app)  # ends every event stream, so no worker stays blocked in one
        self.server.task_dispatcher.shutdown(timeout=5)
        channels = self.server._map  # type: ignore[attr-defined]
        # Closing the channels inside the loop's own thread (a trigger thunk) ends loop() cleanly.
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(channels))  # type: ignore[attr-defined]
        except OSError as exc:  # the trigger is gone: the loop failed or ended already
            log.warning("kiosk server loop not reachable (%s); closing its sockets directly", exc)
            wasyncore.close_all(channels)
        if self._serving.is_set() and not self._served.wait(5):
            log.warning("the kiosk server loop did not stop within 5 s")
        close_app(self.app)

    def __enter__(self) -> KioskServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _run_kiosk(args: argparse.Namespace) -> int:
    from benchpin.commands import load_or_exit, stop_event_on_signals
    from benchpin.sdnotify import watch_http_service
    from kiosk.settings import kiosk_checks

    config = load_or_exit(args.config, checks=(kiosk_checks,))
    if config.kiosk is None:
        log.error("%s: no [kiosk] section", config.source)
        return 2
    stop = stop_event_on_signals()
    from benchpin.commands import EXIT_CANNOT_START
    from benchpin.config import ConfigError
    from benchpin.outbox import OutboxUnusable
    from kiosk.ledger import LedgerSchemaError

    try:
        server = KioskServer(config)
    except LedgerSchemaError as exc:  # upgraded by a newer benchpin: refuse, never touch it
        print(f"benchpin: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:  # what only the running kiosk can check (screen addresses)
        for problem in exc.problems:
            print(f"benchpin: {config.source}: {problem}", file=sys.stderr)
        return 2
    except OutboxUnusable as exc:  # another kiosk on this outbox file, or one it cannot write
        print(f"benchpin: cannot start the kiosk: {exc}", file=sys.stderr)
        return EXIT_CANNOT_START
    # Type=notify under systemd: READY once /healthz answers and MQTT is up, pings while it answers.
    watch = watch_http_service(f"{server.url}/healthz", waiting_for=server.waiting_for)

    def stop_when_asked() -> None:
        stop.wait()
        watch.set()  # STOPPING=1 first: the streams and workers may take a moment
        server.stop()

    threading.Thread(target=stop_when_asked, name="kiosk-stop", daemon=True).start()
    server.run()
    server.stop()
    log.info("kiosk stopped")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from benchpin.commands import add_config_argument

    kiosk = sub.add_parser(
        "kiosk", help="run the kiosk: touch screens and JSON API (waitress)",
        description="Run the kiosk on kiosk.listen with the production WSGI server (waitress): the touch "
                    "screens (badge in, scan, advance), their live push of scans and furnace temperatures "
                    "from kiosk.gateway, and the JSON API. Moves are published to MQTT.")
    add_config_argument(kiosk)
    kiosk.set_defaults(func=_run_kiosk)
