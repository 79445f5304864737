"""Server-sent events: scans, furnace temperatures and job states pushed to the open screen.

Each open screen holds one stream (and one server thread) for as long as it is open, so the
stream is guarded three ways. Only this kiosk's own screens (``kiosk.screen_addresses``: the
addresses its touch screens connect from, loopback by default) and badged-in sessions may open
one: a token in a page would not do, since anyone who can fetch the idle screen could read it.
At most ``kiosk.max_streams`` are open at once; beyond that the answer is 503 with
``Retry-After`` and the screen tries again. Each stream ends after ``LIFETIME_S`` (the browser
reconnects and is checked again), and a comment line every ``HEARTBEAT_S`` lets the server
notice a closed tab. The production server must flush every write (see kiosk/server.py).
Test settings: ``KIOSK_STREAM_HEARTBEAT_S`` and ``KIOSK_STREAM_LIFETIME_S``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import queue
import time
from typing import Callable, Iterator

from flask import Blueprint, Response, current_app, request

from benchpin.config import ConfigError
from kiosk.live import Listener, LiveFeed, LiveMessage, TooManyListeners
from kiosk.state import kiosk_state
from kiosk.ui import auth
from kiosk.ui.state import ui_state

log = logging.getLogger(__name__)

bp = Blueprint("stream", __name__)

HEARTBEAT_S = 15.0
LIFETIME_S = 600.0
RETRY_MS = 1000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def screen_networks(addresses: tuple[str, ...]) -> tuple[Network, ...]:
    """Parse ``kiosk.screen_addresses`` (addresses or networks); ConfigError naming a bad one."""
    networks, problems = [], []
    for i, address in enumerate(addresses):
        try:
            networks.append(ipaddress.ip_network(address.strip(), strict=False))
        except ValueError:
            problems.append(f"kiosk.screen_addresses[{i}]: {address!r} is not an IP address or network")
    if problems:
        raise ConfigError(problems)
    return tuple(networks)


def from_screen(remote: str | None, addresses: tuple[str, ...]) -> bool:
    """Say whether a peer address is one of this kiosk's own screens."""
    try:
        peer = ipaddress.ip_address((remote or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return any(peer in network for network in screen_networks(addresses))


def event_stream(feed: LiveFeed, heartbeat_s: float = HEARTBEAT_S, *, lifetime_s: float = LIFETIME_S,
                 listener: Listener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[bytes]:
    """Yield server-sent events from the feed until it stops, the client goes away or the lifetime ends."""
    listener = listener or feed.listen()
    deadline = clock() + lifetime_s
    try:
        # The first bytes flush the headers, so the browser's EventSource opens at once.
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        for reading in feed.temperatures():
            yield LiveMessage("temperature", reading).to_sse()
        while (left := deadline - clock()) > 0:
            try:
                message = listener.get(timeout=min(heartbeat_s, left))
            except queue.Empty:
                yield b": heartbeat\n\n"
                continue
            if message is None or listener.overflowed:
                return
            yield message.to_sse()
    finally:
        feed.forget(listener)


def _refuse(status: int, message: str, retry_after_s: int | None = None) -> Response:
    response = Response(message + "\n", status, mimetype="text/plain")
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


@bp.get("/events")
def events() -> Response:
    kiosk = kiosk_state().config.kiosk
    assert kiosk is not None
    if auth.current_operator() is None and not from_screen(request.remote_addr, kiosk.screen_addresses):
        return _refuse(403, "The live stream is for this kiosk's own screens (kiosk.screen_addresses) "
                            "and badged-in sessions: badge in first.")
    feed = ui_state().live
    try:
        listener = feed.listen()
    except TooManyListeners as exc:
        log.warning("refused a live stream from %s: %s (kiosk.max_streams)", request.remote_addr, exc)
        return _refuse(503, f"All {exc.limit} live streams of this kiosk are open; try again in "
                            f"{exc.retry_after_s} s.", retry_after_s=exc.retry_after_s)
    stream = event_stream(feed, float(current_app.config.get("KIOSK_STREAM_HEARTBEAT_S", HEARTBEAT_S)),
                          lifetime_s=float(current_app.config.get("KIOSK_STREAM_LIFETIME_S", LIFETIME_S)),
                          listener=listener)
    response = Response(stream, mimetype="text/event-stream")
    # The server closes a response it never started to send (the client left at once): the
    # generator's own cleanup would then never run.
    response.call_on_close(lambda: feed.forget(listener))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy in front must not buffer either
    return response
