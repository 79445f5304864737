"""A stand-in for systemd's end of NOTIFY_SOCKET: a real datagram socket recording each message."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from typing import Any, Callable

from tests.helpers import wait_until


class NotifySocket:
    """Bind an AF_UNIX datagram socket (a short path, or ``abstract=True``) and record messages.

    ``address`` is what goes into ``$NOTIFY_SOCKET``. Each message is kept as
    ``(monotonic arrival time, {KEY: value})``.
    """

    def __init__(self, *, abstract: bool = False) -> None:
        self._dir: str | None = None
        if abstract:
            name = f"benchpin-test-{uuid.uuid4().hex}"
            bind_to, self.address = "\0" + name, "@" + name
        else:
            # sun_path holds 107 bytes: pytest's tmp_path can be longer than that.
            self._dir = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")
            bind_to = self.address = os.path.join(self._dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind_to)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="notify-socket", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.messages.append((time.monotonic(), fields))

    def all(self) -> list[dict[str, str]]:
        with self._lock:
            return [fields for _, fields in self.messages]

    def times_of(self, key: str) -> list[float]:
        """Arrival times of the messages carrying ``key``."""
        with self._lock:
            return [at for at, fields in self.messages if key in fields]

    def count(self, key: str) -> int:
        return len(self.times_of(key))

    def statuses(self) -> list[str]:
        return [fields["STATUS"] for fields in self.all() if "STATUS" in fields]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0, message: str = "notify") -> Any:
        return wait_until(predicate, timeout=timeout, message=message)

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self.sock.close()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
