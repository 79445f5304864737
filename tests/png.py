"""A tiny PNG writer and line rasteriser for drawing G-code paths in tests (zlib only)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


class Canvas:
    """A greyscale image, white background, ``ink`` pixels set by :meth:`line`."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height))

    def plot(self, x: int, y: int) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[y * self.width + x] = 0

    def line(self, x0: float, y0: float, x1: float, y1: float) -> None:
        steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0)) * 2))
        for i in range(steps + 1):
            t = i / steps
            self.plot(round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t))

    def ink(self) -> list[tuple[int, int]]:
        return [(i % self.width, i // self.width) for i, v in enumerate(self.pixels) if v == 0]

    def save(self, path: Path) -> None:
        rows = b"".join(b"\x00" + bytes(self.pixels[y * self.width:(y + 1) * self.width])
                        for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 0, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
                         + chunk(b"IEND", b""))
