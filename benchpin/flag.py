"""An Event whose state is also a plain attribute, for loops that check it per reading."""

from __future__ import annotations

import threading


class Flag(threading.Event):
    """A :class:`threading.Event` that also keeps its state in ``up``.

    ``event.is_set()`` is a Python call; ``flag.up`` is an attribute read. A loop that checks
    it for every reading (a device's poll loop, every put checking the broker connection)
    reads ``up``; waiting still goes through :meth:`wait`.
    """

    up = False

    def set(self) -> None:
        self.up = True
        super().set()

    def clear(self) -> None:
        self.up = False
        super().clear()
