"""Telemetry benchmark: pty probe → gateway → mosquitto → subscriber, beside a naive baseline.

Run: ``.venv/bin/python bench/telemetry.py [--quick]``. Prints, for benchpin's gateway and
for the naive chunked pyserial + paho QoS 0 loop in ``bench/naive_gateway.py``:

- sustained readings/s end to end, and whether every reading arrived (zero loss);
- CPU seconds the gateway process spent per 10,000 readings;
- idle and peak RSS of the gateway process;
- p50/p99 latency (line written on the pty → message at the subscriber) at 100 readings/s,
  with the CPU seconds per 10,000 readings and the bytes the process wrote to disk per reading
  (``/proc/<pid>/io`` ``write_bytes``) at that rate, broker healthy;
- drain rate after a 100,000-reading backlog built while the broker was down, the median of
  three drains with their range (for the naive loop, once: the backlog sits in paho's memory;
  how many arrive is reported too);
- below the table, the CPU at 100 readings/s of both side by side (running at once, fed
  together, the order turned every round), which one machine state affects alike; and
  paho-mqtt alone publishing QoS 1 (``bench/paho_qos1.py``): the floor for any
  gateway sending each reading as its own QoS 1 message through paho, and the same with ten
  readings per message.

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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from benchpin.broker import Mosquitto  # noqa: E402
from firmware_bridge.probe import ProbeReading, format_line  # noqa: E402
from firmware_bridge.sim.pty import PtyLink  # noqa: E402

TOPIC = "benchpin/bench/gw/probe/p1/temperature"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def write_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (``/proc/<pid>/io``)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Counter:
    """A fast subscriber (mosquitto_sub, persistent session) recording each reading's arrival.

    mosquitto_sub is C, so the figures measure the gateway, not a Python subscriber; its
    persistent session keeps the subscription across a broker restart.
    """

    def __init__(self, port: int) -> None:
        self.arrived: dict[int, float] = {}
        self.messages = 0
        self.done = threading.Event()
        self.expect = 0
        self.process = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-c",
             "-i", f"bench-{os.getpid()}-{time.time_ns()}", "-t", TOPIC],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.subscribed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            now = time.monotonic()
            self.messages += 1
            value = json.loads(line)["value_c"]
            if value is None or value < 0:
                continue
            index = int(value)
            if index not in self.arrived:
                self.arrived[index] = now
                if len(self.arrived) >= self.expect > 0:
                    self.done.set()

    def wait(self, expect: int, timeout: float) -> bool:
        self.expect = expect
        if len(self.arrived) >= expect:
            return True
        return self.done.wait(timeout)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)


@dataclass
class Result:
    name: str
    figures: dict[str, str] = field(default_factory=dict)


class Rig:
    """A fresh broker, pty and gateway process of one kind."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.broker = Mosquitto(workdir=workdir / "mqtt")
        self.broker.start()
        self.link = PtyLink(workdir / "ttyPROBE")
        self.process: subprocess.Popen[bytes] | None = None

    def start_gateway(self) -> None:
        if self.kind == "benchpin":
            config = self.workdir / "station.toml"
            config.write_text(
                f'[site]\nid = "bench"\n[mqtt]\nport = {self.broker.port}\n'
                f'[gateway]\nid = "gw"\nstate_dir = "{self.workdir / "state"}"\nstatus_interval_s = 5.0\n'
                f'[[gateway.probes]]\nid = "p1"\nkind = "serial"\nport = "{self.link.link}"\n'
                f'stall_timeout_s = 600.0\n')
            cmd = [sys.executable, "-m", "benchpin", "--log-level", "WARNING", "gateway", "--config", str(config)]
        else:
            cmd = [sys.executable, str(ROOT / "bench" / "naive_gateway.py"), str(self.link.link),
                   str(self.broker.port), TOPIC]
        self.process = subprocess.Popen(cmd, cwd=ROOT)
        # Wait until the gateway has the port open (pyserial discards input on open).
        self.warm_up()

    def warm_up(self) -> None:
        probe = Counter(self.broker.port)
        broker_up = self.broker.running
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if broker_up and probe.messages:
                break
            if not broker_up and self.kind == "benchpin" and self.outbox_rows() > 0:
                break
            if not broker_up and self.kind == "naive":
                time.sleep(2.0)  # no way to observe it: give it time to open the port
                break
            self.link.write(format_line(ProbeReading(1, -1.0)))
            time.sleep(0.1)
        probe.close()

    def outbox_rows(self) -> int:
        import sqlite3

        path = self.workdir / "state" / "outbox.sqlite"
        if not path.exists():
            return 0
        try:
            with sqlite3.connect(path) as db:
                return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        except sqlite3.OperationalError:  # created a moment ago, schema not there yet
            return 0

    def send(self, values: range) -> None:
        self.link.write(b"".join(format_line(ProbeReading(1, float(v))) for v in values))

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.link.close()
        self.broker.close()


def throughput(kind: str, workdir: Path, n: int) -> dict[str, str]:
    rig = Rig(kind, workdir)
    try:
        rig.start_gateway()
        assert rig.process
        pid = rig.process.pid
        time.sleep(1.0)
        idle_rss = rss_kib(pid)
        counter = Counter(rig.broker.port)
        time.sleep(0.5)
        cpu0 = cpu_seconds(pid)
        t0 = time.monotonic()
        writer = threading.Thread(target=rig.send, args=(range(n),))
        writer.start()
        complete = counter.wait(n, timeout=300)
        elapsed = (max(counter.arrived.values()) if counter.arrived else time.monotonic()) - t0
        cpu = cpu_seconds(pid) - cpu0
        writer.join()
        got = len([i for i in counter.arrived if 0 <= i < n])
        peak_rss = rss_kib(pid, "VmHWM")
        counter.close()
        return {
            "readings/s end to end": f"{got / elapsed:,.0f}",
            "delivered": f"{got:,}/{n:,}" + ("" if complete else "  (LOSS)"),
            "CPU s per 10,000 readings": f"{cpu / max(got, 1) * 10_000:.2f}",
            "idle RSS": f"{idle_rss / 1024:.1f} MiB",
            "peak RSS": f"{peak_rss / 1024:.1f} MiB",
        }
    finally:
        rig.close()


def latency(kind: str, workdir: Path, n: int, rate: float = 100.0) -> dict[str, str]:
    rig = Rig(kind, workdir)
    try:
        rig.start_gateway()
        assert rig.process
        pid = rig.process.pid
        counter = Counter(rig.broker.port)
        time.sleep(0.5)
        cpu0, written0 = cpu_seconds(pid), write_bytes(pid)
        sent: dict[int, float] = {}
        start = time.monotonic()
        for i in range(n):
            target = start + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent[i] = time.monotonic()
            rig.send(range(i, i + 1))
        counter.wait(n, timeout=30)
        time.sleep(1.0)  # let a last commit (if any) happen inside the measurement
        cpu, written = cpu_seconds(pid) - cpu0, write_bytes(pid) - written0
        lat = sorted((counter.arrived[i] - sent[i]) * 1000 for i in sent if i in counter.arrived)
        counter.close()
        return {
            f"latency p50 at {rate:g}/s": f"{statistics.median(lat):.1f} ms",
            f"latency p99 at {rate:g}/s": f"{lat[int(len(lat) * 0.99) - 1]:.1f} ms",
            f"CPU s per 10,000 readings at {rate:g}/s": f"{cpu / n * 10_000:.2f}",
            f"disk bytes written per reading at {rate:g}/s": f"{written / n:,.0f}",
        }
    finally:
        rig.close()


def drain(kind: str, workdir: Path, n: int) -> dict[str, str]:
    rig = Rig(kind, workdir)
    try:
        counter = Counter(rig.broker.port)  # its session outlives the outage
        time.sleep(1.0)
        rig.broker.stop()
        rig.start_gateway()
        warm = rig.outbox_rows() if kind == "benchpin" else 0
        chunk = 5000
        for start in range(0, n, chunk):
            rig.send(range(start, min(n, start + chunk)))
        if kind == "benchpin":
            deadline = time.monotonic() + 300
            while rig.outbox_rows() < warm + n and time.monotonic() < deadline:
                time.sleep(0.2)
        else:
            time.sleep(max(5.0, n / 20_000))  # give paho time to queue all of it in memory
        rig.broker.start()
        t0 = time.monotonic()
        emptied = None
        if kind == "benchpin":
            while rig.outbox_rows() > 0 and time.monotonic() - t0 < 300:
                time.sleep(0.05)
            emptied = time.monotonic() - t0
        complete = counter.wait(n, timeout=120)
        if not complete:  # let stragglers arrive, then count what was lost
            time.sleep(5)
        got = len([i for i in counter.arrived if 0 <= i < n])
        first = min(counter.arrived.values()) if counter.arrived else t0
        last = max(counter.arrived.values()) if counter.arrived else time.monotonic()
        counter.close()
        return {
            "reconnect after broker restart": f"{first - t0:.1f} s",
            f"drain after {n:,} backlog": f"{got / max(last - first, 1e-6):,.0f} readings/s",
            "outbox emptied (acked), from restart": f"{n / emptied:,.0f} readings/s" if emptied else "n/a (no outbox)",
            "backlog delivered": f"{got:,}/{n:,}" + ("" if got >= n else "  (LOSS)"),
        }
    finally:
        rig.close()


def drains(kind: str, workdir: Path, n: int, times: int) -> dict[str, str]:
    """:func:`drain` ``times`` times: the median of each rate, with the range beside it.

    One drain on a shared machine is noisy (seen here: 12,000 to 23,000 readings/s for the
    same code minutes apart), so a single figure says little.
    """
    runs = [drain(kind, workdir / f"drain-{i}", n) for i in range(times)]
    if times == 1:
        return runs[0]
    merged: dict[str, str] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs]
        if not all(v.endswith(" readings/s") and v[:1].isdigit() for v in values):
            merged[key] = first if len(set(values)) == 1 else " | ".join(values)
            continue
        numbers = [float(v.split()[0].replace(",", "")) for v in values]
        merged[key] = f"{statistics.median(numbers):,.0f} readings/s"
        merged[f"  {key}: range of {times}"] = f"{min(numbers):,.0f}-{max(numbers):,.0f}"
    return merged


def side_by_side(workdir: Path, n: int, rounds: int, rate: float = 100.0) -> dict[str, list[float]]:
    """CPU s per 10,000 readings at ``rate``, both gateways running at once, fed together.

    Two sequential runs see a machine in two states; side by side, both see the same one. The
    gateway written to first each tick pays a little more (measured: about a tenth), so the
    order turns every round.
    """
    kinds = ["benchpin", "naive"]
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(rounds):
        order = kinds[round_ % 2:] + kinds[:round_ % 2]
        rigs = [(kind, Rig(kind, workdir / f"{round_}-{kind}")) for kind in order]
        counters = []
        try:
            for _, rig in rigs:
                rig.start_gateway()
                counters.append(Counter(rig.broker.port))
            time.sleep(0.5)
            start_cpu = {kind: cpu_seconds(rig.process.pid) for kind, rig in rigs if rig.process}
            start = time.monotonic()
            for i in range(n):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                for _, rig in rigs:
                    rig.send(range(i, i + 1))
            for counter in counters:
                counter.wait(n, timeout=30)
            time.sleep(0.5)
            for kind, rig in rigs:
                assert rig.process
                cpu[kind].append((cpu_seconds(rig.process.pid) - start_cpu[kind]) / n * 10_000)
        finally:
            for counter in counters:
                counter.close()
            for _, rig in rigs:
                rig.close()
    return cpu


def paho_alone(workdir: Path, n: int, per_message: int = 1) -> dict[str, float]:
    """paho-mqtt alone, QoS 1, on a fresh broker (``bench/paho_qos1.py``): the floor below us."""
    broker = Mosquitto(workdir=workdir / "mqtt")
    broker.start()
    try:
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "paho_qos1.py"), str(broker.port), str(n),
                              str(per_message)], capture_output=True, text=True, timeout=300, check=True)
        return dict(json.loads(out.stdout.splitlines()[-1]))
    finally:
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    args = parser.parse_args()
    n_tp, n_lat, n_drain = (2_000, 200, 10_000) if args.quick else (20_000, 1_000, 100_000)
    rounds = 2 if args.quick else 4
    drain_runs = 1 if args.quick else 3
    results = []
    for kind in ("benchpin", "naive"):
        with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
            work = Path(tmp)
            figures: dict[str, str] = {}
            print(f"[{kind}] throughput…", flush=True)
            figures.update(throughput(kind, work / "tp", n_tp))
            print(f"[{kind}] latency…", flush=True)
            figures.update(latency(kind, work / "lat", n_lat))
            print(f"[{kind}] backlog drain…", flush=True)
            # The naive loop loses its backlog whatever the machine does: once is enough.
            figures.update(drains(kind, work, n_drain, drain_runs if kind == "benchpin" else 1))
            results.append(Result(kind, figures))
    with tempfile.TemporaryDirectory(prefix="bench-side-") as tmp:
        print(f"[side by side] both at {100:g}/s, {rounds} rounds…", flush=True)
        side = side_by_side(Path(tmp), n_lat, rounds)
    with tempfile.TemporaryDirectory(prefix="bench-paho-") as tmp:
        print("[paho alone] QoS 1, one reading per message, then ten…", flush=True)
        alone = paho_alone(Path(tmp) / "one", n_tp)
        batched = paho_alone(Path(tmp) / "ten", n_tp * 10, 10)
    keys = list(results[0].figures)
    width = max(len(k) for k in keys)
    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'':{width}}  {'benchpin gateway':>22}  {'naive loop (baseline)':>22}  {'ratio':>7}")
    for key in keys:
        ours, theirs = results[0].figures.get(key, "-"), results[1].figures.get(key, "-")
        print(f"{key:{width}}  {ours:>22}  {theirs:>22}  {ratio(ours, theirs):>7}")
    side_ours, side_theirs = statistics.median(side["benchpin"]), statistics.median(side["naive"])
    print()
    print(f"side by side at 100/s (both fed at once, order turned each round, median of {rounds}): "
          f"CPU s per 10,000 readings {side_ours:.2f} vs {side_theirs:.2f}, {side_ours / side_theirs:.2f}x")
    print("  rounds, benchpin: " + ", ".join(f"{x:.2f}" for x in side["benchpin"])
          + "; naive: " + ", ".join(f"{x:.2f}" for x in side["naive"]))
    print()
    print("paho-mqtt alone, QoS 1, no serial port, no outbox (bench/paho_qos1.py), same machine:")
    for label, paho_figures in (("one reading per message", alone), ("ten readings per message", batched)):
        print(f"  {label}: {paho_figures['readings_per_s']:,.0f} readings/s, "
              f"{paho_figures['cpu_s_per_10k']:.3f} CPU s per 10,000 readings")


def ratio(ours: str, theirs: str) -> str:
    """benchpin / naive for two figures that start with a number, else ''."""
    def number(text: str) -> float | None:
        head = text.split()[0].split("/")[0].replace(",", "") if text.strip() else ""
        try:
            return float(head)
        except ValueError:
            return None

    a, b = number(ours), number(theirs)
    if a is None or b is None or b == 0:
        return ""
    return f"{a / b:.2f}x"


if __name__ == "__main__":
    main()
