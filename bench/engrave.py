"""Engraving link benchmark: serial-link utilisation while streaming a long job to GRBL.

Run: ``.venv/bin/python bench/engrave.py [--baud 115200] [--serials 60]``. Streams one long
program (many serial numbers laid out side by side by the gateway's G-code generator) to the
GRBL simulator on a pty, through the gateway's own serial link (:class:`GrblLink`) and
streaming state machine (:class:`Streamer`), twice in the same run:

- character counting: as many lines in flight as fit GRBL's 128-byte RX buffer;
- send-and-wait: one line at a time, the next only after its ``ok``.

Utilisation = bytes sent × 10 bits ÷ baud ÷ elapsed (first byte written to last ``ok``): the
share of what the serial line could carry. The simulator delivers bytes at the baud rate and
answers through a baud-paced TX; its motions are sped up so the planner never waits for the
machine (the link, not the laser, is what is measured). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_bridge.gcode import LaserSettings, Layout, render_text  # noqa: E402
from firmware_bridge.grbl import Welcome  # noqa: E402
from firmware_bridge.sim.grbl import GrblSim  # noqa: E402
from firmware_bridge.streamer import Streamer  # noqa: E402
from gateway.grbl_link import GrblLink  # noqa: E402

LASER = LaserSettings(power=800, feed_mm_min=600.0)


def long_program(serials: int) -> list[str]:
    """One job engraving ``serials`` serial numbers in a grid, as one program."""
    lines: list[str] = []
    for n in range(serials):
        layout = Layout(1.5, 30.0, origin_x_mm=(n % 6) * 32.0, origin_y_mm=(n // 6) * 3.0)
        program = render_text(f"PC-{202611230000 + n:012d}", layout, LASER).lines
        lines += program[:-1] if n < serials - 1 else program  # one M2 at the very end
    return lines


def stream(link: GrblLink, lines: list[str], max_lines: int | None) -> tuple[int, float, int]:
    """Stream ``lines``; return (bytes sent, seconds, error replies)."""
    streamer = Streamer(lines, max_lines=max_lines)
    start = time.monotonic()
    while not streamer.finished:
        data = streamer.take()
        if data:
            link.write(b"".join(data))
        for reply in link.read_replies():
            streamer.handle_reply(reply)
    elapsed = time.monotonic() - start
    return streamer.bytes_sent, elapsed, 1 if streamer.failure else 0


def run(baud: int, serials: int) -> None:
    lines = long_program(serials)
    with tempfile.TemporaryDirectory(prefix="benchpin-engrave-") as tmp:
        sim = GrblSim(str(Path(tmp) / "ttyLASER"), baudrate=baud, speedup=1000.0, min_block_s=0.0005)
        sim.start()
        link = GrblLink(str(sim.pty.link), baud)
        link.open()
        try:
            link.realtime(b"\x18")
            deadline = time.monotonic() + 5
            while not any(isinstance(r, Welcome) for r in link.read_replies()):
                if time.monotonic() > deadline:
                    raise SystemExit("no GRBL banner from the simulator")
            print(f"job: {len(lines)} lines, {sum(len(x) + 1 for x in lines)} bytes; link {baud} baud "
                  f"({baud / 10:.0f} bytes/s at most)")
            for name, max_lines in (("character counting", None), ("send-and-wait-for-ok", 1)):
                sent, elapsed, errors = stream(link, lines, max_lines)
                utilisation = sent * 10 / baud / elapsed
                print(f"{name:22s} {sent} bytes in {elapsed:6.2f} s = {sent / elapsed:7.0f} bytes/s, "
                      f"link utilisation {utilisation * 100:5.1f} %{'  (errors!)' if errors else ''}")
            print(f"simulator RX overflows: {sim.overflows} (must be 0)")
        finally:
            link.close()
            sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--serials", type=int, default=60, help="serial numbers in the long job")
    args = parser.parse_args()
    run(args.baud, args.serials)


if __name__ == "__main__":
    main()
