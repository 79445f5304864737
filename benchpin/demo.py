"""``benchpin demo``: the whole workshop on one machine, with simulated devices.

A private mosquitto on a free loopback port; a furnace probe board, a serial barcode scanner,
a GRBL laser and an MT-SICS bench balance simulated on ptys; one gateway (in this process, on gpiozero's mock pins, so
the demo can open and close the laser's door); the kiosk as a child process on a SQLite ledger
seeded with demo pieces. Ctrl-C (or SIGTERM) stops everything it started.

Control a running demo by writing lines to ``<dir>/control`` (``benchpin demo --dir DIR
--scan CODE`` / ``--door open|closed`` do it for you), or by typing on the demo's terminal:
a barcode scans it, ``door open`` / ``door closed`` moves the laser's door, ``weigh GRAMS``
puts a load on the balance's pan.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import tomli_w

from benchpin.broker import Mosquitto, free_port
from benchpin.config import ConfigError, load_config
from firmware_bridge.sim.grbl import GrblSim
from firmware_bridge.sim.probe import ProbeBoardSim, pour_curve
from firmware_bridge.sim.scale import BalanceSim
from firmware_bridge.sim.scanner import SerialScannerSim

log = logging.getLogger(__name__)

SITE = "demo"
GATEWAY = "bench-1"
SCANNER = "bench-scanner"
LASER = "laser-1"
BALANCE = "bench-balance"
DOOR_PIN = 17
CONTROL = "control"
STATIONS = "casting,filing,plating,inspection,engraving,qc"  # filing: weighed in and out on the balance


class Demo:
    """Everything the demo runs, started in order and stopped in reverse."""

    def __init__(self, workdir: Path, *, kiosk_port: int | None = None) -> None:
        self.workdir = workdir
        self.devdir = workdir / "dev"
        self.devdir.mkdir(parents=True, exist_ok=True)
        self.kiosk_port = kiosk_port or free_port()
        self.broker = Mosquitto(workdir=workdir / "mosquitto")
        self.config_path = workdir / "station.toml"
        self.children: list[subprocess.Popen[bytes]] = []
        self.closers: list[Callable[[], None]] = []
        self.lines: list[str] = []  # what to tell the user once everything runs
        self.sims: dict[str, Any] = {}
        self.gateway: Any = None
        self.pin_factory: Any = None

    # ------------------------------------------------------------------ config

    def station(self) -> dict[str, Any]:
        """Return the demo station's config as TOML data."""
        return {
            "site": {"id": SITE},
            "mqtt": {"host": "127.0.0.1", "port": self.broker.port},
            "gateway": {
                "id": GATEWAY, "state_dir": str(self.workdir / "state"), "status_interval_s": 5.0,
                "probes": [{"id": "furnace-1", "kind": "serial", "port": str(self.devdir / "probe"),
                            "stall_timeout_s": 10.0}],
                "scanners": [{"id": SCANNER, "kind": "serial", "port": str(self.devdir / "scanner")}],
                "engravers": [{"id": LASER, "port": str(self.devdir / "laser"), "door_pin": DOOR_PIN,
                               "cap_height_mm": 1.0, "max_width_mm": 20.0}],
                "scales": [{"id": BALANCE, "kind": "mt-sics", "port": str(self.devdir / "balance")}],
            },
            "kiosk": {
                "station": STATIONS,
                "database": f"sqlite:///{self.workdir / 'ledger.sqlite'}",
                "listen": f"127.0.0.1:{self.kiosk_port}",
                "api_token_file": str(self.workdir / "api-token"),
                "engraver": f"{GATEWAY}/{LASER}", "gateway": GATEWAY,
                "scanners": [f"{GATEWAY}/{SCANNER}"],
                "scale": f"{GATEWAY}/{BALANCE}",
            },
        }

    def station_toml(self) -> str:
        """Return the demo station's config file (tomli-w quotes every path, whatever it holds)."""
        return "# benchpin demo station: simulated devices on ptys, a private broker.\n" + tomli_w.dumps(self.station())

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self.broker.start()
        self.closers.append(self.broker.close)
        self.start_simulators()
        (self.workdir / "api-token").write_text(secrets.token_urlsafe(24) + "\n")
        self.config_path.write_text(self.station_toml(), encoding="utf-8")
        config = load_config(self.config_path)
        from benchpin.demo_seed import seed_demo_ledger

        assert config.kiosk is not None
        seed_demo_ledger(config.kiosk)
        self.start_gateway(config)
        self.spawn("kiosk", [sys.executable, "-m", "benchpin", "kiosk", "--config", str(self.config_path)])
        self.wait_for_kiosk()
        self.start_control()
        url = f"http://127.0.0.1:{self.kiosk_port}/"
        self.lines += [
            f"kiosk         {url}   (badge in by scanning OP-0005, a supervisor)",
            "languages     OP-0006 (Sunita Devi, artisan) badges in to screens in Hindi, "
            "OP-0007 (Somchai Dee, setter) in Thai",
            f"scan a code   type it here and press Enter, or: benchpin demo --dir {self.workdir} --scan PC-0006",
            f"laser door    type 'door open' / 'door closed', or: benchpin demo --dir {self.workdir} --door open",
            f"balance       type 'weigh 12.345' to load the pan; tare it: mosquitto_pub -p {self.broker.port} "
            f"-t benchpin/{SITE}/{GATEWAY}/scale/{BALANCE}/command -m '{{\"action\": \"tare\"}}'",
            f"MQTT broker   127.0.0.1:{self.broker.port}",
            f"watch it all  mosquitto_sub -h 127.0.0.1 -p {self.broker.port} -t 'benchpin/#' -v",
            f"JSON API      curl -H \"Authorization: Bearer $(cat {self.workdir / 'api-token'})\" "
            f"{url}api/pieces/PC-0006",
            f"logs, config  {self.workdir}   (laser.gcode: every line the laser received)",
            "try this      scan OP-0005, scan PC-0006 (at plating), tap Advance: it goes to engraving,",
            "              the laser engraves its serial number, and the piece moves on to qc by itself.",
        ]

    def start_simulators(self) -> None:
        probe = ProbeBoardSim(str(self.devdir / "probe"), rate_hz=2.0, curve=pour_curve(period_s=90.0))
        probe.start()
        # GRBL 1.1h as it behaves, in laser mode, slowed so that a serial takes 5 s or more to
        # burn: long enough to open the door mid-job by hand.
        laser = GrblSim(str(self.devdir / "laser"), speedup=0.4, faithful=True, laser_mode=True)
        laser.start()
        scanner = SerialScannerSim(str(self.devdir / "scanner"))
        balance = BalanceSim(str(self.devdir / "balance"), "mt-sics", settle_s=2.0, drift_g_per_s=0.00005)
        balance.start()
        self.sims.update(probe=probe, laser=laser, scanner=scanner, balance=balance)
        self.closers += [probe.close, laser.close, scanner.close, balance.close]

    def start_gateway(self, config: Any) -> None:
        from gpiozero.pins.mock import MockFactory

        from gateway.service import Gateway

        self.pin_factory = MockFactory()
        handler = logging.FileHandler(self.workdir / "gateway.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("gateway", "benchpin.mqtt", "benchpin.outbox"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).propagate = False
        self.gateway = Gateway(config, pin_factory=self.pin_factory)
        # The gateway's own run loop: it refreshes the retained status as a real gateway does.
        stop_gateway = threading.Event()
        runner = threading.Thread(target=self.gateway.run, args=(stop_gateway,), name="demo-gateway", daemon=True)
        runner.start()

        def close_gateway() -> None:
            stop_gateway.set()
            runner.join(15)
            self.gateway.stop()

        self.closers.append(close_gateway)
        # The engraver's input is pulled up (a cut wire reads as an open door): once it is
        # open, shut the door as an operator would before the first job.
        laser = next(s for s in self.gateway.supervisors if s.name == f"engraver {LASER}")
        deadline = time.monotonic() + 15
        while laser.state != "up" and time.monotonic() < deadline:
            time.sleep(0.05)
        if laser.state != "up":
            raise RuntimeError(f"the simulated laser did not come up: {laser.detail}")
        self.set_door(False)

    def wait_for_kiosk(self, timeout: float = 30.0) -> None:
        url = f"http://127.0.0.1:{self.kiosk_port}/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            problem = self.check_children()
            if problem:
                raise RuntimeError(f"{problem}; see {self.workdir / 'kiosk.log'}")
            try:
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"the kiosk did not answer {url} within {timeout:g}s; see {self.workdir / 'kiosk.log'}")

    # ------------------------------------------------------------------ control

    def handle(self, line: str) -> None:
        """Act on one control line: ``door open``, ``door closed``, or a barcode to scan."""
        line = line.strip()
        if not line:
            return
        words = line.lower().split()
        if words[0] == "door" and len(words) == 2 and words[1] in ("open", "closed", "close"):
            self.set_door(words[1] == "open")
        elif words[0] == "weigh" and len(words) == 2 and words[1].replace(".", "", 1).isdigit():
            log.info("simulated balance: %s g on the pan", words[1])
            self.sims["balance"].place(float(words[1]))
        else:
            log.info("simulated scanner reads %s", line)
            self.sims["scanner"].scan(line)

    def set_door(self, is_open: bool) -> None:
        """Open or shut the laser's door: one switch wired to GRBL's door input and the Pi's GPIO."""
        log.info("laser door %s", "opened" if is_open else "shut")
        self.sims["laser"].set_door(is_open)
        pin = self.pin_factory.pin(DOOR_PIN)
        pin.drive_high() if is_open else pin.drive_low()

    def start_control(self) -> None:
        """Read control lines from the ``<workdir>/control`` FIFO."""
        fifo = self.workdir / CONTROL
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
                    self.handle(line.decode("utf-8", "replace"))

        thread = threading.Thread(target=pump, name="demo-control", daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            thread.join(2)
            os.close(fd)
            fifo.unlink(missing_ok=True)

        self.closers.append(close)

    # ------------------------------------------------------------------ children

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start a child in its own process group, logging to ``<workdir>/<name>.log``."""
        with open(self.workdir / f"{name}.log", "ab") as logfile:
            child = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append(child)
        log.info("started %s (pid %d), log in %s", name, child.pid, self.workdir / f"{name}.log")
        return child

    def save_laser_log(self) -> None:
        """Keep ``<workdir>/laser.gcode`` equal to every line the simulated laser received."""
        laser = self.sims.get("laser")
        if laser is None:
            return
        lines = list(laser.lines)
        if len(lines) != getattr(self, "_saved_lines", -1):
            (self.workdir / "laser.gcode").write_text("".join(line + "\n" for line in lines))
            self._saved_lines = len(lines)

    def check_children(self) -> str | None:
        """Return a message if a child died (the demo then stops)."""
        for child in self.children:
            if child.poll() is not None:
                args = child.args if isinstance(child.args, (list, tuple)) else [child.args]
                name = str(args[3]) if len(args) > 3 else str(args[0])  # [python, -m, benchpin, COMMAND]
                return f"{name} exited with status {child.returncode}"
        return None

    def stop(self) -> None:
        """Stop children (SIGTERM, then SIGKILL), the gateway, simulators and broker; idempotent."""
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


def send_control(workdir: str | None, line: str) -> int:
    """Write one control line to the demo running in ``workdir``."""
    if not workdir:
        print("benchpin demo: --scan and --door need --dir, the directory the running demo printed",
              file=sys.stderr)
        return 2
    fifo = Path(workdir) / CONTROL
    if not fifo.exists():
        print(f"benchpin demo: no demo is running in {workdir} (no {fifo})", file=sys.stderr)
        return 1
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        print(f"benchpin demo: cannot reach the running demo: {exc.strerror}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as pipe:
        pipe.write(line.strip() + "\n")
    return 0


def read_terminal(demo: Demo, stop: threading.Event) -> None:
    """Treat each line typed on the demo's terminal as a control line."""
    if not sys.stdin.isatty():
        return

    def pump() -> None:
        for line in sys.stdin:
            if stop.is_set():
                return
            demo.handle(line)

    threading.Thread(target=pump, name="demo-terminal", daemon=True).start()


def run_demo(args: argparse.Namespace) -> int:
    from benchpin.commands import stop_event_on_signals

    if args.scan:
        return send_control(args.dir, args.scan)
    if args.door:
        return send_control(args.dir, f"door {args.door}")
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
        read_terminal(demo, stop)
        while not stop.wait(0.5):
            demo.save_laser_log()
            problem = demo.check_children()
            if problem:
                print(f"benchpin demo: {problem}; see the logs in {workdir}", file=sys.stderr)
                return 1
        return 0
    except (ConfigError, RuntimeError, TimeoutError, OSError) as exc:
        print(f"benchpin demo: could not start: {exc}", file=sys.stderr)
        return 1
    finally:
        demo.stop()
        if own_dir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        print("benchpin demo stopped.", flush=True)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = sub.add_parser(
        "demo", help="run the whole workshop on this machine with simulated devices",
        description="Start a private mosquitto, simulated devices on ptys (furnace probe board, "
                    "barcode scanner, GRBL laser with its door, MT-SICS bench balance), a gateway and "
                    "the kiosk with demo pieces on both routes. Prints the kiosk URL and the MQTT "
                    "port. Ctrl-C stops everything it started. With --dir and --scan or --door, drive "
                    "a running demo.")
    parser.add_argument("--dir", default=None,
                        help="working directory for the broker, ptys, ledger and logs "
                             "(default: a new temporary directory, removed on exit)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory on exit")
    parser.add_argument("--kiosk-port", type=int, default=None, help="kiosk HTTP port (default: a free one)")
    parser.add_argument("--scan", metavar="CODE", default=None,
                        help="scan CODE on the simulated scanner of the demo running in --dir, then exit")
    parser.add_argument("--door", choices=["open", "closed"], default=None,
                        help="open or shut the simulated laser's door of the demo running in --dir")
    parser.set_defaults(func=run_demo)
