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
from firmware_bridge.sim.probe import ProbeBoardSim, pour_curve

log = logging.getLogger(__name__)

SITE = "demo"
GATEWAY = "bench-1"


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
        ]) + "\n"

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self.broker.start()
        self.closers.append(self.broker.close)
        probe = ProbeBoardSim(str(self.devdir / "probe"), rate_hz=2.0, curve=pour_curve(period_s=90.0))
        probe.start()
        self.sims["probe"] = probe
        self.closers.append(probe.close)
        config = self.workdir / "station.toml"
        config.write_text(self.station_toml())
        self.spawn("gateway", [sys.executable, "-m", "benchpin", "gateway", "--config", str(config)])
        self.lines += [
            f"MQTT broker   127.0.0.1:{self.broker.port}",
            f"watch it all  mosquitto_sub -h 127.0.0.1 -p {self.broker.port} -t 'benchpin/#' -v",
            f"config        {config}",
        ]

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


def run_demo(args: argparse.Namespace) -> int:
    from benchpin.cli import stop_event_on_signals

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
    parser.add_argument("--kiosk-port", type=int, default=None, help="kiosk HTTP port (default: a free one)")
    parser.set_defaults(func=run_demo)
