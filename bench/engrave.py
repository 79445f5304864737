"""Engraving benchmark: serial-link utilisation, jobs per hour and time to first burn.

Run: ``.venv/bin/python bench/engrave.py [--baud 115200] [--serials 60] [--jobs 5]``.

**Link utilisation.** Streams one long
program (many serial numbers laid out side by side by the gateway's G-code generator) to the
GRBL simulator on a pty, through the gateway's own serial link (:class:`GrblLink`) and
streaming state machine (:class:`Streamer`), twice in the same run:

- character counting: as many lines in flight as fit GRBL's 128-byte RX buffer;
- send-and-wait: one line at a time, the next only after its ``ok``.

Utilisation = bytes sent × 10 bits ÷ baud ÷ elapsed (first byte written to last ``ok``): the
share of what the serial line could carry. The simulator delivers bytes at the baud rate and
answers through a baud-paced TX; its motions are sped up so the planner never waits for the
machine (the link, not the laser, is what is measured).

**Jobs.** The gateway's own job desk, journal and engraver device (no broker: the job states go
to a private outbox) drive the simulator in its faithful GRBL 1.1h mode at real speed
(``speedup=1``), with a typical 12-character serial (``BP-26-000042``) in ``silver_925`` (the
slowest default material) at 1 mm, the default config otherwise. *Time to first burn* runs from
the job message handed to the desk to the first status of the machine running a block with the
laser on (``FS:…,S`` > 0), on an idle engraver, median and worst of ``--jobs`` jobs. *Jobs per
hour* is ``--jobs`` jobs queued at once, from the first received to the last ``done``.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchpin.config import EngraverConfig  # noqa: E402
from benchpin.outbox import Outbox  # noqa: E402
from benchpin.topics import Topics  # noqa: E402
from firmware_bridge.gcode import LaserSettings, Layout, render_text  # noqa: E402
from firmware_bridge.grbl import Welcome  # noqa: E402
from firmware_bridge.sim.grbl import GrblSim  # noqa: E402
from firmware_bridge.streamer import Streamer  # noqa: E402
from gateway.engraver import Engraver  # noqa: E402
from gateway.engraver_jobs import JobDesk  # noqa: E402
from gateway.grbl_link import GrblLink  # noqa: E402
from gateway.job_journal import JobJournal  # noqa: E402

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


class Firing:
    """Watch the simulator for the laser burning (a block running with S > 0)."""

    def __init__(self, sim: GrblSim) -> None:
        self.sim = sim
        self.burning_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="first-burn", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            status = self.sim.status()
            if self.burning_since is None and status.state == "Run" and (status.spindle or 0) > 0:
                self.burning_since = time.monotonic()

    def rearm(self) -> None:
        self.burning_since = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)


def run_jobs(baud: int, jobs: int) -> None:
    """Drive the gateway's engraver against the faithful simulator; print latency and throughput."""
    with tempfile.TemporaryDirectory(prefix="benchpin-engrave-jobs-") as tmp:
        sim = GrblSim(str(Path(tmp) / "ttyLASER"), baudrate=baud, faithful=True, laser_mode=True, speedup=1.0)
        sim.start()
        config = EngraverConfig(id="laser-1", port=str(sim.pty.link), baudrate=baud)
        journal = JobJournal(Path(tmp) / "jobs.sqlite")
        outbox = Outbox(Path(tmp) / "outbox.sqlite")
        desk = JobDesk(config, journal, outbox, Topics("bench"), "gw")
        engraver = Engraver(config, desk, journal)
        firing = Firing(sim)
        serial_no = iter(range(42, 10_000))

        def message() -> bytes:
            serial = f"BP-26-{next(serial_no):06d}"
            return json.dumps({"job_id": f"J-{serial}", "piece_id": "PC-0042", "serial": serial,
                               "material": "silver_925", "height_mm": 1.0}).encode()

        def wait_done(job_ids: list[str]) -> None:
            deadline = time.monotonic() + 120 * len(job_ids)
            while any((j := journal.get(job_id)) is None or j.state not in ("done", "failed", "interrupted",
                                                                             "rejected") for job_id in job_ids):
                engraver.poll()
                if time.monotonic() > deadline:
                    raise SystemExit("jobs did not finish in time")
            states = {journal.get(job_id).state for job_id in job_ids}  # type: ignore[union-attr]
            if states != {"done"}:
                raise SystemExit(f"jobs ended {states}, not done")

        try:
            engraver.open()
            for _ in range(10):
                engraver.poll()
            latencies = []
            for _ in range(jobs):
                raw = message()
                firing.rearm()
                received = time.monotonic()
                desk.handle_job(raw)
                job_id = json.loads(raw)["job_id"]
                while firing.burning_since is None:
                    engraver.poll()
                    if time.monotonic() - received > 30:
                        raise SystemExit("the laser never fired")
                latencies.append(firing.burning_since - received)
                wait_done([job_id])
            lines = len(journal.get(job_id).program)  # type: ignore[union-attr]
            print(f"time from job received to first burn (faithful GRBL, idle engraver, {jobs} jobs): "
                  f"median {statistics.median(latencies) * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms "
                  f"(goal <= 500 ms)")
            raws = [message() for _ in range(jobs)]
            start = time.monotonic()
            for raw in raws:
                desk.handle_job(raw)
            wait_done([json.loads(raw)["job_id"] for raw in raws])
            elapsed = time.monotonic() - start
            print(f"jobs in a row: {jobs} x 12-character serial ({lines} lines, silver_925, 1 mm) in "
                  f"{elapsed:.1f} s = {jobs * 3600 / elapsed:.0f} jobs per hour ({elapsed / jobs:.2f} s a job)")
        finally:
            firing.close()
            engraver.close()
            outbox.close()
            journal.close()
            sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--serials", type=int, default=60, help="serial numbers in the long job")
    parser.add_argument("--jobs", type=int, default=5, help="jobs for the latency and the jobs-per-hour figures")
    args = parser.parse_args()
    run(args.baud, args.serials)
    run_jobs(args.baud, args.jobs)


if __name__ == "__main__":
    main()
