"""``benchpin demo``: the whole workshop on one machine, with simulated devices.

Starts a private mosquitto on a free loopback port, simulated devices on ptys, one gateway
(and the kiosk, when installed) as child processes, prints how to watch and drive it, and on
Ctrl-C stops every process it started.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from benchpin.broker import Mosquitto, free_port
from firmware_bridge.sim.grbl import GrblSim
from firmware_bridge.sim.probe import ProbeBoardSim, pour_curve
from firmware_bridge.sim.scanner import SerialScannerSim

log = logging.getLogger(__name__)

SITE = "demo"
SCAN_FIFO = "scan"
GATEWAY = "bench-1"
SCANNER = "bench-scanner"


class Demo:
    """Everything the demo runs, started in order and stopped in reverse."""

    def __init__(self, workdir: Path, *, kiosk_port: int | None = None) -> None:
        self.workdir = workdir
        self.devdir = workdir / "dev"
        self.devdir.mkdir(parents=True, exist_ok=True)
        self.kiosk_port = kiosk_port or free_port()
        self.broker = Mosquitto(workdir=workdir / "mosquitto")
        self.children: list[subprocess.Popen[bytes]] = []
        self.closers: list[Callable[[], None]] = []
        self.lines: list[str] = []  # what to tell the user once everything runs
        self.sims: dict[str, Any] = {}

    # ------------------------------------------------------------------ config

    def station_toml(self) -> str:
        return "\n".join([
            "# benchpin demo station: simulated devices on ptys, a private broker.",
            "[site]", f'id = "{SITE}"',
            "[mqtt]", 'host = "127.0.0.1"', f"port = {self.broker.port}",
            "[gateway]", f'id = "{GATEWAY}"', f'state_dir = "{self.workdir / "state"}"',
            "status_interval_s = 5.0",
            "[[gateway.probes]]", 'id = "furnace-1"', 'kind = "serial"',
            f'port = "{self.devdir / "probe"}"', "stall_timeout_s = 10.0",
            "[[gateway.engravers]]", 'id = "laser-1"', f'port = "{self.devdir / "laser"}"',
            "[[gateway.scanners]]", f'id = "{SCANNER}"', 'kind = "serial"',
            f'port = "{self.devdir / "scanner"}"',
        ]) + "\n"

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self.broker.start()
        self.closers.append(self.broker.close)
        probe = ProbeBoardSim(str(self.devdir / "probe"), rate_hz=2.0, curve=pour_curve(period_s=90.0))
        probe.start()
        self.sims["probe"] = probe
        self.closers.append(probe.close)
        laser = GrblSim(str(self.devdir / "laser"))
        laser.start()
        self.sims["laser"] = laser
        self.closers.append(laser.close)
        scanner = SerialScannerSim(str(self.devdir / "scanner"))
        self.sims["scanner"] = scanner
        self.closers.append(scanner.close)
        self.start_scan_fifo(scanner)
        config = self.workdir / "station.toml"
        config.write_text(self.station_toml())
        self.spawn("gateway", [sys.executable, "-m", "benchpin", "gateway", "--config", str(config)])
        self.lines += [
            f"scan a code   type it here and press Enter, or: benchpin demo --dir {self.workdir} --scan PC-0001",
            f"MQTT broker   127.0.0.1:{self.broker.port}",
            f"watch it all  mosquitto_sub -h 127.0.0.1 -p {self.broker.port} -t 'benchpin/#' -v",
            f"config        {config}",
            f"engrave       mosquitto_pub -h 127.0.0.1 -p {self.broker.port} -t "
            f"'benchpin/{SITE}/{GATEWAY}/engraver/laser-1/job' -m '{{\"job_id\":\"J-1\",\"piece_id\":"
            f"\"PC-0042\",\"serial\":\"PC-0042\",\"text\":\"PC-0042\",\"material\":\"silver_925\","
            f"\"height_mm\":1.5}}'",
        ]

    def start_scan_fifo(self, scanner: SerialScannerSim) -> None:
        """Read codes from ``<workdir>/scan`` (one per line) and scan them on the simulator."""
        fifo = self.workdir / SCAN_FIFO
        if fifo.exists():
            fifo.unlink()
        os.mkfifo(fifo, 0o600)
        # O_RDWR: the open never blocks and reads never see EOF when a writer leaves.
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        stop = threading.Event()

        def pump() -> None:
            buffer = b""
            while not stop.wait(0.05):
                try:
                    buffer += os.read(fd, 4096)
                except BlockingIOError:
                    continue
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self.scan(line.decode("utf-8", "replace").strip())

        thread = threading.Thread(target=pump, name="demo-scan-fifo", daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            thread.join(2)
            os.close(fd)

        self.closers.append(close)

    def scan(self, code: str) -> None:
        """Scan ``code`` on the simulated bench scanner."""
        if code:
            log.info("simulated scanner reads %s", code)
            self.sims["scanner"].scan(code)

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start a child in its own process group, logging to ``<workdir>/<name>.log``."""
        logfile = open(self.workdir / f"{name}.log", "ab")
        child = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        logfile.close()
        self.children.append(child)
        log.info("started %s (pid %d), log in %s", name, child.pid, self.workdir / f"{name}.log")
        return child

    def check_children(self) -> str | None:
        """Return a message if a child died (the demo then stops)."""
        for child in self.children:
            if child.poll() is not None:
                return f"{' '.join(child.args[2:4])} exited with status {child.returncode}"  # type: ignore[index]
        return None

    def stop(self) -> None:
        """Stop children (SIGTERM, then SIGKILL), simulators and the broker; idempotent."""
        for child in reversed(self.children):
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for child in reversed(self.children):
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        self.children.clear()
        while self.closers:
            closer = self.closers.pop()
            try:
                closer()
            except Exception:
                log.exception("while stopping the demo")


def send_scan(workdir: str | None, code: str) -> int:
    """Hand ``code`` to a running demo's simulated scanner."""
    if not workdir:
        print("benchpin demo --scan needs --dir: the directory the running demo printed", file=sys.stderr)
        return 2
    fifo = Path(workdir) / SCAN_FIFO
    if not fifo.exists():
        print(f"benchpin demo: no demo is running in {workdir} (no {fifo})", file=sys.stderr)
        return 1
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        print(f"benchpin demo: cannot reach the running demo: {exc.strerror}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as pipe:
        pipe.write(code.strip() + "\n")
    print(f"scanned {code.strip()}")
    return 0


def read_typed_scans(demo: Demo, stop: threading.Event) -> None:
    """Treat each line typed on the demo's terminal as a scan."""
    if not sys.stdin.isatty():
        return

    def pump() -> None:
        for line in sys.stdin:
            if stop.is_set():
                return
            demo.scan(line.strip())

    threading.Thread(target=pump, name="demo-stdin", daemon=True).start()


def run_demo(args: argparse.Namespace) -> int:
    from benchpin.cli import stop_event_on_signals

    if args.scan:
        return send_scan(args.dir, args.scan)
    own_dir = args.dir is None
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="benchpin-demo-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stop = stop_event_on_signals()
    demo = Demo(workdir, kiosk_port=args.kiosk_port)
    try:
        demo.start()
        print("benchpin demo is running — Ctrl-C stops everything.", flush=True)
        for line in demo.lines:
            print(f"  {line}", flush=True)
        read_typed_scans(demo, stop)
        while not stop.wait(0.5):
            problem = demo.check_children()
            if problem:
                print(f"benchpin demo: {problem}; see the logs in {workdir}", file=sys.stderr)
                return 1
        return 0
    finally:
        demo.stop()
        if own_dir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        print("benchpin demo stopped.", flush=True)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "demo", help="run the whole workshop on this machine with simulated devices",
        description="Start a private mosquitto, simulated devices on ptys (furnace probe board, "
                    "barcode scanner, GRBL laser), a gateway and the kiosk with demo pieces. "
                    "Prints the kiosk URL and the MQTT port. Ctrl-C stops everything it started.")
    parser.add_argument("--dir", default=None,
                        help="working directory for the broker, ptys, ledger and logs "
                             "(default: a new temporary directory, removed on exit)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory on exit")
    parser.add_argument("--scan", metavar="CODE", default=None,
                        help="scan CODE on the simulated scanner of the demo running in --dir, then exit")
    parser.add_argument("--kiosk-port", type=int, default=None, help="kiosk HTTP port (default: a free one)")
    parser.set_defaults(func=run_demo)
