"""A simulated serial barcode scanner on a pty: each ``scan(code)`` sends one terminated line."""

from __future__ import annotations

from firmware_bridge.sim.pty import PtyLink


class SerialScannerSim:
    """A serial (CDC) scanner at the far end of a :class:`PtyLink`.

    ``terminator`` is what the scanner is set to send after a code (CR, LF or CR LF);
    ``prefix``/``suffix`` wrap the code as a scanner set to send STX/ETX would.
    """

    def __init__(self, link: str, *, terminator: bytes = b"\r\n", prefix: bytes = b"", suffix: bytes = b"") -> None:
        self.pty = PtyLink(link)
        self.terminator = terminator
        self.prefix = prefix
        self.suffix = suffix
        self.sent = 0

    @property
    def link(self) -> str:
        return str(self.pty.link)

    def line(self, code: str) -> bytes:
        return self.prefix + code.encode("ascii") + self.suffix + self.terminator

    def scan(self, code: str) -> None:
        """Send ``code`` as the scanner would on a good read (``OSError`` when unplugged)."""
        self.pty.write(self.line(code))
        self.sent += 1

    def close(self) -> None:
        self.pty.close()

    def __enter__(self) -> SerialScannerSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SerialScannerSim {self.pty.link} sent={self.sent}>"
