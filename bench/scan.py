"""Scan benchmark: scanner input → gateway → mosquitto → subscriber, 8 scanners at 10 scans/s each.

Run: ``.venv/bin/python bench/scan.py [--seconds 30] [--mode serial|hid|both]``. Prints, per mode:

- p50 / p99 / max latency from the scan entering the gateway's input (the serial line written on
  the pty; for HID, the code's whole report stream queued on the simulated USB bus) to the
  message arriving at a subscriber (``mosquitto_sub``, C, so it adds next to nothing);
- whether every scan arrived exactly once;
- CPU seconds per 1,000 scans of the gateway process, and its idle CPU (scanners open, no scans). In ``serial`` mode that process is the
  real ``benchpin gateway``; in ``hid`` mode the simulated bus and scanners live in the same
  process (a pyusb backend cannot cross processes), so their small share is included.

The outbox commits every scan to disk (``synchronous = "full"``) before it is published.
Figures are printed, never asserted; the machine is shared, so compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchpin.broker import Mosquitto  # noqa: E402

SCANNERS = 8
RATE_PER_SCANNER = 10.0
TOPIC = "benchpin/bench/gw/scanner/+/scan"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Arrivals:
    """``mosquitto_sub`` on the scan topics, recording when each code first arrived."""

    def __init__(self, port: int) -> None:
        self.arrived: dict[str, float] = {}
        self.copies: dict[str, int] = {}
        self._cond = threading.Condition()
        self.process = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", TOPIC],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            now = time.monotonic()
            code = json.loads(line)["code"]
            with self._cond:
                self.copies[code] = self.copies.get(code, 0) + 1
                self.arrived.setdefault(code, now)
                self._cond.notify_all()

    def wait_for(self, codes: set[str], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: codes <= self.arrived.keys(), timeout)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)


def drive(send: Callable[[int, str], None], seconds: float) -> dict[str, float]:
    """Send ``SCANNERS × RATE`` unique codes per second for ``seconds``; return code → send time."""
    sent: dict[str, float] = {}
    total = int(seconds * SCANNERS * RATE_PER_SCANNER)
    start = time.monotonic() + 0.1
    for i in range(total):
        target = start + i / (SCANNERS * RATE_PER_SCANNER)
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        scanner, code = i % SCANNERS, f"PC-{i % SCANNERS}{i:07d}"
        sent[code] = time.monotonic()
        send(scanner, code)
    return sent


def station(workdir: Path, port: int, scanners: str) -> Path:
    path = workdir / "station.toml"
    path.write_text(f'[site]\nid = "bench"\n[mqtt]\nport = {port}\n[gateway]\nid = "gw"\n'
                    f'state_dir = "{workdir / "state"}"\nstatus_interval_s = 5.0\n' + scanners)
    return path


def idle_cpu(pid: int, seconds: float = 3.0) -> float:
    """Share of one core the gateway uses with every scanner open and nothing scanned."""
    cpu0 = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / seconds


def warm_up(arrivals: Arrivals, send: Callable[[int, str], None]) -> None:
    """Scan until every scanner is heard (the gateway opens ports in its own time)."""
    for attempt in range(100):
        codes = {f"OP-WARM{n}-{attempt}" for n in range(SCANNERS)}
        for n in range(SCANNERS):
            send(n, f"OP-WARM{n}-{attempt}")
        if arrivals.wait_for(codes, 0.5):
            return
    raise SystemExit("the gateway never published the warm-up scans")


def run_serial(workdir: Path, broker: Mosquitto, seconds: float) -> tuple[dict[str, float], float, float, Arrivals]:
    from firmware_bridge.sim.scanner import SerialScannerSim

    sims = [SerialScannerSim(str(workdir / f"ttySCAN{n}")) for n in range(SCANNERS)]
    tables = "".join(f'[[gateway.scanners]]\nid = "s{n}"\nkind = "serial"\nport = "{s.link}"\n'
                     for n, s in enumerate(sims))
    config = station(workdir, broker.port, tables)
    arrivals = Arrivals(broker.port)
    gateway = subprocess.Popen([sys.executable, "-m", "benchpin", "--log-level", "WARNING", "gateway",
                                "--config", str(config)], cwd=ROOT)
    try:
        warm_up(arrivals, lambda n, code: sims[n].scan(code))
        idle = idle_cpu(gateway.pid)
        cpu0 = cpu_seconds(gateway.pid)
        sent = drive(lambda n, code: sims[n].scan(code), seconds)
        arrivals.wait_for(set(sent), 30)
        cpu = cpu_seconds(gateway.pid) - cpu0
    finally:
        gateway.terminate()
        gateway.wait(10)
        for sim in sims:
            sim.close()
    return sent, cpu, idle, arrivals


def hid_child(config_path: str, out: str, seconds: float) -> None:
    """In a child process: gateway + simulated USB bus with 8 scanners; write send times to ``out``."""
    from benchpin.config import load_config
    from firmware_bridge.sim.usb_hid import SimHidScanner, SimUsbBus
    from gateway.service import Gateway

    bus = SimUsbBus()
    scanners = [SimHidScanner(serial_number=f"S{n}") for n in range(SCANNERS)]
    for n, scanner in enumerate(scanners):
        bus.plug(scanner, (1, n + 1))
    ready = Path(out + ".ready")
    with Gateway(load_config(config_path), usb_backend=bus):
        while not all(s.claimed for s in scanners):
            time.sleep(0.05)
        ready.write_text(str(os.getpid()))
        go = Path(out + ".go")
        while not go.exists():  # the parent warms up, then says go
            warm = Path(out + ".warm")
            if warm.exists():
                attempt = warm.read_text()
                warm.unlink()
                for n, scanner in enumerate(scanners):
                    scanner.scan(f"OP-WARM{n}-{attempt}")
            time.sleep(0.01)
        sent = drive(lambda n, code: scanners[n].scan(code), seconds)
        Path(out).write_text(json.dumps(sent))
        while not Path(out + ".stop").exists():
            time.sleep(0.05)


def run_hid(workdir: Path, broker: Mosquitto, seconds: float) -> tuple[dict[str, float], float, float, Arrivals]:
    tables = "".join(f'[[gateway.scanners]]\nid = "s{n}"\nkind = "usb-hid"\nvendor_id = 0x0c2e\n'
                     f'product_id = 0x0b61\nserial_number = "S{n}"\n' for n in range(SCANNERS))
    config = station(workdir, broker.port, tables)
    out = str(workdir / "sent.json")
    arrivals = Arrivals(broker.port)
    child = subprocess.Popen([sys.executable, __file__, "--hid-child", str(config), out, str(seconds)], cwd=ROOT)
    try:
        while not Path(out + ".ready").exists():
            time.sleep(0.05)
        for attempt in range(100):
            Path(out + ".warm").write_text(str(attempt))
            if arrivals.wait_for({f"OP-WARM{n}-{attempt}" for n in range(SCANNERS)}, 0.5):
                break
        idle = idle_cpu(child.pid)
        cpu0 = cpu_seconds(child.pid)
        Path(out + ".go").touch()
        while not Path(out).exists():
            time.sleep(0.05)
        time.sleep(0.05)  # the file is written in one call; let it close
        sent = json.loads(Path(out).read_text())
        arrivals.wait_for(set(sent), 30)
        cpu = cpu_seconds(child.pid) - cpu0
    finally:
        Path(out + ".stop").touch()
        child.wait(20)
    return sent, cpu, idle, arrivals


def report(mode: str, sent: dict[str, float], cpu: float, idle: float, arrivals: Arrivals) -> None:
    latencies = sorted((arrivals.arrived[c] - t) * 1000 for c, t in sent.items() if c in arrivals.arrived)
    missing = len(sent) - len(latencies)
    doubles = sum(1 for c in sent if arrivals.copies.get(c, 0) > 1)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{mode:6} scans={len(sent)} missing={missing} duplicated={doubles} "
          f"latency p50={p50:.1f} ms p99={p99:.1f} ms max={latencies[-1]:.1f} ms "
          f"cpu={cpu / len(sent) * 1000:.2f} s per 1,000 scans (idle: {idle * 100:.1f}% of a core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--mode", choices=("serial", "hid", "both"), default="both")
    parser.add_argument("--hid-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hid_child:
        hid_child(args.hid_child[0], args.hid_child[1], float(args.hid_child[2]))
        return
    print(f"{SCANNERS} scanners × {RATE_PER_SCANNER:g} scans/s for {args.seconds:g} s per mode")
    for mode in ("serial", "hid") if args.mode == "both" else (args.mode,):
        with tempfile.TemporaryDirectory(prefix=f"bench-scan-{mode}-") as tmp:
            workdir = Path(tmp)
            with Mosquitto(workdir=workdir / "mqtt") as broker:
                runner = run_serial if mode == "serial" else run_hid
                sent, cpu, idle, arrivals = runner(workdir, broker, args.seconds)
                arrivals.close()
                report(mode, sent, cpu, idle, arrivals)


if __name__ == "__main__":
    main()
