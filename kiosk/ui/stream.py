"""Server-sent events: scans, furnace temperatures and job states pushed to the open screen.

Each open screen holds one stream (and one server thread) for as long as it is open; a comment
line every ``HEARTBEAT_S`` keeps proxies and the browser's reconnect logic content and lets the
server notice a closed tab. The production server must flush every write (see kiosk/server.py).
"""

from __future__ import annotations

import queue
from typing import Iterator

from flask import Blueprint, Response

from kiosk.live import LiveFeed, LiveMessage
from kiosk.ui.state import ui_state

bp = Blueprint("stream", __name__)

HEARTBEAT_S = 15.0
RETRY_MS = 1000


def event_stream(feed: LiveFeed, heartbeat_s: float = HEARTBEAT_S) -> Iterator[bytes]:
    """Yield server-sent events from the feed until it stops or the client goes away."""
    listener = feed.listen()
    try:
        # The first bytes flush the headers, so the browser's EventSource opens at once.
        yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
        for reading in feed.temperatures():
            yield LiveMessage("temperature", reading).to_sse()
        while True:
            try:
                message = listener.get(timeout=heartbeat_s)
            except queue.Empty:
                yield b": heartbeat\n\n"
                continue
            if message is None or listener.overflowed:
                return
            yield message.to_sse()
    finally:
        feed.forget(listener)


@bp.get("/events")
def events() -> Response:
    response = Response(event_stream(ui_state().live), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy in front must not buffer either
    return response
