"""A pseudo-terminal that stands for a serial cable, with a stable symlink name.

The simulator holds the master side; the service opens the slave through ``link`` (like a
udev name such as ``/dev/benchpin-probe``). ``unplug`` closes the master and removes the
link, as pulling a USB-serial adapter does; ``replug`` creates a new pty behind the same link.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from pathlib import Path


class PtyLink:
    """The device end of a simulated serial cable."""

    def __init__(self, link: str | os.PathLike[str]) -> None:
        self.link = Path(link)
        self.master_fd: int | None = None
        self._slave_fd: int | None = None
        self._write_lock = threading.Lock()
        self.replug()

    @property
    def plugged(self) -> bool:
        return self.master_fd is not None

    @property
    def slave_name(self) -> str:
        assert self._slave_fd is not None
        return os.ttyname(self._slave_fd)

    def replug(self) -> None:
        """Plug a new pty in behind ``link`` (closing the old one if still there)."""
        self.unplug()
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as on a real UART
        os.set_blocking(master, True)
        self.master_fd, self._slave_fd = master, slave
        tmp = self.link.with_name(self.link.name + ".new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        """Close the pty and remove the link: the reader sees an I/O error, then no port."""
        if self.link.is_symlink():
            self.link.unlink()
        for fd in (self.master_fd, self._slave_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master_fd = self._slave_fd = None

    def write(self, data: bytes) -> None:
        """Send bytes to the service (as the device would)."""
        with self._write_lock:
            if self.master_fd is None:
                raise OSError("the simulated cable is unplugged")
            view = memoryview(data)
            while view:
                written = os.write(self.master_fd, view)
                view = view[written:]

    def read(self, size: int = 4096, timeout: float | None = None) -> bytes:
        """Return bytes the service sent (b'' on timeout or when unplugged)."""
        fd = self.master_fd
        if fd is None:
            return b""
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return b""
            return os.read(fd, size)
        except (OSError, ValueError):
            return b""

    def close(self) -> None:
        self.unplug()

    def __enter__(self) -> PtyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PtyLink {self.link} plugged={self.plugged}>"
