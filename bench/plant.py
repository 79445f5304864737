"""Plant benchmark: 50 stations bridged to a 3-node NATS cluster, 10 kiosks on one PostgreSQL ledger.

Run: ``.venv/bin/python bench/plant.py [--stations 50] [--kiosks 10] [--load-s 180]``. On loopback:

- the plant broker: 3 nats-server nodes (MQTT on JetStream, R3) from the shipped example config
  and the users of ``benchpin plant acl``;
- per station: its own mosquitto with the bridge of ``benchpin plant bridge`` and a gateway
  (``benchpin gateway``, its own process) reading a simulated probe board at 10 readings/s
  and a serial scanner (a scan every 2 s), both on ptys;
- ``--kiosks`` kiosks (``benchpin kiosk``, waitress) on one PostgreSQL schema, each on its
  station's mosquitto, each driven by one client moving its own pieces through the JSON API;
- a plant subscriber (a persistent QoS 1 session that moves to another node when its node
  dies) counting every message by (topic, ``seq``).

During the load it kills one broker node (SIGKILL; started again 30 s later), cuts the last
station's link to the plant for 60 s (its bridge goes through a loopback proxy that drops its
connections and refuses new ones), and kills one kiosk (SIGKILL). Then it stops the devices and
waits for the plant to receive what they sent. It prints messages lost (sent by a simulator but
never received at the plant), duplicates, end-to-end latency (the reading's ``ts`` to its
arrival at the plant) beside the baseline of the same readings at the first station's own
broker, moves per second across the plant, and CPU and memory per station (gateway + its
mosquitto) and per broker node. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402
import tomli_w  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from benchpin.broker import Mosquitto, end_process, free_port  # noqa: E402
from benchpin.plant import bridge_conf, parse_plant, read_password  # noqa: E402
from firmware_bridge.sim.probe import ProbeBoardSim  # noqa: E402
from firmware_bridge.sim.scanner import SerialScannerSim  # noqa: E402
from kiosk.ledger import Ledger, PieceSpec  # noqa: E402
from tests.cluster import NatsCluster, PlantSubscriber  # noqa: E402

SITE = "plant"
POSTGRES = os.environ.get("BENCHPIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "bench-plant-token-0123456789abcdef"
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError):
        return 0.0


def rss_mb(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6
    except (OSError, IndexError):
        return 0.0


def parse_ts(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


class LinkCut:
    """A loopback TCP proxy to each plant node; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, targets: tuple[str, ...]) -> None:
        self.up = threading.Event()
        self.up.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.addresses = []
        for target in targets:
            host, _, port = target.rpartition(":")
            listener = socket.create_server(("127.0.0.1", 0))
            self.addresses.append(f"127.0.0.1:{listener.getsockname()[1]}")
            threading.Thread(target=self._accept, args=(listener, (host, int(port))), daemon=True).start()

    def _accept(self, listener: socket.socket, target: tuple[str, int]) -> None:
        while True:
            conn, _ = listener.accept()
            if not self.up.is_set():
                conn.close()
                continue
            try:
                upstream = socket.create_connection(target, timeout=2)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._conns += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._conns.clear()

    def restore(self) -> None:
        self.up.set()


class Station:
    """One station: its mosquitto with the plant bridge, its gateway process, its simulated devices."""

    def __init__(self, n: int, workdir: Path, bridge: str) -> None:
        self.gateway_id = f"st-{n:02d}"
        self.dir = workdir / self.gateway_id
        self.dir.mkdir(parents=True)
        self.broker = Mosquitto(workdir=self.dir / "mosquitto", extra_config=bridge)
        self.probe = ProbeBoardSim(str(self.dir / "probe"), rate_hz=10.0)
        self.scanner = SerialScannerSim(str(self.dir / "scanner"))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.broker.start()
        config = {"site": {"id": SITE}, "mqtt": {"host": "127.0.0.1", "port": self.broker.port},
                  "gateway": {"id": self.gateway_id, "state_dir": str(self.dir / "state"),
                              "probes": [{"id": "furnace-1", "kind": "serial", "port": str(self.probe.pty.link)}],
                              "scanners": [{"id": "bench", "kind": "serial", "port": self.scanner.link}]}}
        path = self.dir / "station.toml"
        path.write_text(tomli_w.dumps(config))
        self.process = subprocess.Popen([sys.executable, "-m", "benchpin", "--log-level", "ERROR", "gateway",
                                         "--config", str(path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=open(self.dir / "gateway.log", "wb"))

    def pids(self) -> list[int]:
        return [p.pid for p in (self.process, self.broker.process) if p is not None]

    def stop(self) -> None:
        self.probe.close()
        self.scanner.close()
        if self.process is not None:
            end_process(self.process, timeout=20.0)
        self.broker.close()


class KioskDriver:
    """A kiosk (``benchpin kiosk``) on the shared ledger and one client moving its pieces through its API."""

    def __init__(self, n: int, workdir: Path, url: str, mqtt_port: int, pieces: list[str]) -> None:
        self.kiosk_id = f"k-{n:02d}"
        self.port = free_port()
        self.pieces = pieces
        self.moves: list[float] = []
        self.refused = 0
        self.failed = 0
        directory = self.dir = workdir / self.kiosk_id
        directory.mkdir()
        (directory / "token").write_text(TOKEN)
        config = {"site": {"id": SITE}, "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
                  "kiosk": {"id": self.kiosk_id, "station": "qc", "database": url,
                            "listen": f"127.0.0.1:{self.port}", "api_token_file": str(directory / "token"),
                            "outbox_file": str(directory / "outbox.sqlite")}}
        (directory / "station.toml").write_text(tomli_w.dumps(config))
        self.process = subprocess.Popen([sys.executable, "-m", "benchpin", "--log-level", "ERROR", "kiosk",
                                         "--config", str(directory / "station.toml")], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=open(directory / "kiosk.log", "wb"))

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"kiosk {self.kiosk_id} did not start: "
                           f"{(self.dir / 'kiosk.log').read_text(errors='replace')[-1500:]}")

    def drive(self, stop: threading.Event, route: Any) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        stages = {p: route.first(PieceSpec(p, "production")) for p in self.pieces}
        k = 0
        while not stop.is_set():
            piece = self.pieces[k % len(self.pieces)]
            k += 1
            nxt = route.next_stage(stages[piece], PieceSpec(piece, "production"))
            if nxt is None:
                if k > len(self.pieces) and all(route.next_stage(s, PieceSpec(p, "production")) is None
                                                for p, s in stages.items()):
                    return  # every piece shipped
                continue
            try:
                body = {"to": nxt, "operator": "OP-BENCH", "from": stages[piece]}
                if stages[piece] == "engraving":  # no laser here: a supervisor's override, with a reason
                    body |= {"override": True, "note": "bench: no laser at this kiosk"}
                conn.request("POST", f"/api/pieces/{piece}/moves", headers=headers, body=json.dumps(body))
                response = conn.getresponse()
                answer = response.read()
            except OSError:
                self.failed += 1
                if self.process.poll() is not None:
                    return  # killed: its operator walks to another kiosk (not simulated)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            if response.status == 201:
                stages[piece] = json.loads(answer)["to"]
                self.moves.append(time.monotonic())
            else:
                self.refused += 1
                if self.refused == 1:
                    print(f"  ({self.kiosk_id}: {stages[piece]} -> {nxt} refused: {answer[:200]!r})")
                stages[piece] = route.stages[-1].name  # leave the piece where it is

    def stop(self) -> None:
        end_process(self.process, timeout=20.0)


class LocalLatency:
    """The baseline: the first station's readings at its own mosquitto (no bridge, no cluster)."""

    def __init__(self, port: int, topic: str) -> None:
        self.latencies: list[float] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"local-{uuid.uuid4().hex[:6]}")
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self.latencies.append(time.time() - parse_ts(json.loads(msg.payload)["ts"]))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def quantiles_ms(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49] * 1000:7.1f} ms   p99 {cuts[98] * 1000:7.1f} ms   (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--kiosks", type=int, default=10)
    parser.add_argument("--load-s", type=float, default=180.0, help="seconds of load (the faults happen in it)")
    parser.add_argument("--cut-s", type=float, default=60.0, help="how long the last station's link is cut")
    parser.add_argument("--drain-s", type=float, default=180.0, help="at most this long for the plant to catch up")
    parser.add_argument("--postgres", default=POSTGRES)
    args = parser.parse_args()
    import psycopg

    t_start = time.monotonic()
    schema = f"bp_plant_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{args.postgres}?options=-csearch_path%3D{schema}"
    tmp = tempfile.TemporaryDirectory(prefix="benchpin-plant-")
    workdir = Path(tmp.name)
    nats = NatsCluster(workdir / "nats")
    cut_station = args.stations
    inventory: dict[str, Any] = {
        "plant": {"site": SITE, "brokers": list(nats.brokers), "secrets_dir": str(workdir / "secrets"),
                  "bcrypt_rounds": 6},
        "stations": [{"gateway": f"st-{n:02d}"} | ({"kiosks": [f"k-{n:02d}"]} if n <= args.kiosks else {})
                     for n in range(1, args.stations + 1)],
        "readers": [{"user": "plant", "scans": True}]}
    plant = parse_plant(inventory)
    nats.configure(plant)
    stations: list[Station] = []
    kiosks: list[KioskDriver] = []
    stop_kiosks = threading.Event()
    threads: list[threading.Thread] = []
    sub: PlantSubscriber | None = None
    local: LocalLatency | None = None
    try:
        nats.start()
        latencies: list[tuple[str, float]] = []
        cut_topic = f"/st-{cut_station:02d}/"
        online: set[str] = set()

        def seen(topic: str, payload: dict[str, Any], now: float) -> None:
            if topic.endswith("/temperature"):
                latencies.append((topic, now - parse_ts(payload["ts"])))
            elif topic.endswith("/status") and payload.get("state") == "online":
                online.add(topic)

        sub = PlantSubscriber(nats.brokers, "plant", read_password(plant, "plant"),
                              plant.readers[0].topics(SITE), on_message=seen)
        proxy = LinkCut(nats.brokers)
        for n in range(1, args.stations + 1):
            station = plant.station(f"st-{n:02d}")
            if n == cut_station:  # its bridge reaches the plant through the proxy
                station_plant = parse_plant({**inventory, "plant": {**inventory["plant"],
                                                                    "brokers": proxy.addresses}})
                text = bridge_conf(station_plant, station, read_password(plant, station.gateway))
            else:
                text = bridge_conf(plant, station, read_password(plant, station.gateway))
            stations.append(Station(n, workdir / "stations", text))
        for st in stations:
            st.start()
        local = LocalLatency(stations[0].broker.port,
                             f"benchpin/{SITE}/{stations[0].gateway_id}/probe/furnace-1/temperature")
        with Ledger(url) as ledger:
            ledger.add_operator("OP-BENCH", "Bench", "supervisor")
            per_kiosk = 400
            ledger.import_pieces([PieceSpec(f"PC-P{k:02d}-{i:03d}", "production")
                                  for k in range(args.kiosks) for i in range(per_kiosk)])
            route = ledger.workflow.route("production")
        (workdir / "kiosks").mkdir()
        for k in range(args.kiosks):
            kiosks.append(KioskDriver(k + 1, workdir / "kiosks", url, stations[k % len(stations)].broker.port,
                                      [f"PC-P{k:02d}-{i:03d}" for i in range(per_kiosk)]))
        for kd in kiosks:
            kd.wait_ready()
        # Every gateway's status online reached the plant (through its bridge): then the devices start.
        statuses = {f"benchpin/{SITE}/{st.gateway_id}/status" for st in stations}
        if not sub.wait_for(lambda: statuses <= online, 120):
            print(f"  (no status online at the plant from {', '.join(sorted(statuses - online))})")
        time.sleep(5)  # the gateways open their ptys
        print(f"{args.stations} stations, {args.kiosks} kiosks, 3 NATS nodes up after "
              f"{time.monotonic() - t_start:.0f} s; load for {args.load_s:.0f} s")

        cpu0 = {st.gateway_id: sum(cpu_s(p) for p in st.pids()) for st in stations}
        node_cpu: dict[str, float] = {node.name: -cpu_s(node.process.pid) for node in nats.nodes if node.process}

        def kill_node() -> None:
            node = nats.nodes[0]
            if node.process:
                node_cpu[node.name] += cpu_s(node.process.pid)  # its time goes with the process
            node.stop(kill=True)

        t0 = time.monotonic()
        for st in stations:
            st.probe.start()
        for kd in kiosks:
            threads.append(threading.Thread(target=kd.drive, args=(stop_kiosks, route), daemon=True))
            threads[-1].start()

        def scans() -> None:
            i = 0
            while time.monotonic() - t0 < args.load_s:
                for st in stations:
                    st.scanner.scan(f"PC-S{i:06d}")
                i += 1
                time.sleep(2.0)

        scanner_thread = threading.Thread(target=scans, daemon=True)
        scanner_thread.start()
        events: list[tuple[float, str, Any]] = [
            (30.0, "kill broker node plant-1", kill_node),
            (40.0, f"cut the link of station st-{cut_station:02d} for {args.cut_s:.0f} s", proxy.cut),
            (60.0, "start broker node plant-1 again", nats.nodes[0].start),
            (80.0, f"kill kiosk {kiosks[-1].kiosk_id}" if kiosks else "no kiosk",
             (lambda: kiosks[-1].process.kill()) if kiosks else (lambda: None)),
            (40.0 + args.cut_s, f"restore the link of station st-{cut_station:02d}", proxy.restore),
        ]
        for at, what, action in sorted(events, key=lambda e: e[0]):
            if at >= args.load_s and not what.startswith(("restore", "start")):
                continue
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            print(f"  t={time.monotonic() - t0:5.1f} s  {what}")
            action()
        time.sleep(max(0.0, t0 + args.load_s - time.monotonic()))
        stop_kiosks.set()
        for st in stations:
            st.probe.stop()
        scanner_thread.join()
        load_s = time.monotonic() - t0
        proxy.restore()
        cpu1 = {st.gateway_id: sum(cpu_s(p) for p in st.pids()) for st in stations}
        for node in nats.nodes:
            if node.process:
                node_cpu[node.name] += cpu_s(node.process.pid)
        node_rss = {node.name: rss_mb(node.process.pid) if node.process else 0.0 for node in nats.nodes}
        station_rss = [sum(rss_mb(p) for p in st.pids()) for st in stations]
        gateway_rss = [rss_mb(st.process.pid) for st in stations if st.process]

        expected = {}
        for st in stations:
            prefix = f"benchpin/{SITE}/{st.gateway_id}"
            expected[f"{prefix}/probe/furnace-1/temperature"] = st.probe.sent
            expected[f"{prefix}/scanner/bench/scan"] = st.scanner.sent

        def gap(topic: str) -> tuple[int, int]:
            """(seqs missing at the plant, the device's last seq) from one snapshot of what arrived.

            The last seq is what its simulator counted, or more when the plant saw a higher one
            (the gateway published readings or faults the simulator did not count)."""
            seen = sub.seqs(topic)
            last = max([expected[topic], *seen])
            return last - len(seen & set(range(1, last + 1))), last

        def missing() -> int:
            return sum(gap(t)[0] for t in expected)

        drain0 = time.monotonic()
        sub.wait_for(lambda: missing() == 0, args.drain_s)
        drained = time.monotonic() - drain0
        gaps = {topic: gap(topic) for topic in expected}
        lost = sum(g for g, _ in gaps.values())
        for topic, (g, n) in gaps.items():
            if g:
                print(f"  {topic}: {g} of {n} missing")
        sent = sum(n for _, n in gaps.values())
        extra = sum(1 for (t, s) in sub.counts if t in expected and s > expected[t])
        print()
        print(f"messages sent by the devices   {sent}  ({sent / load_s:.0f}/s over {load_s:.0f} s)")
        print(f"messages lost at the plant     {lost}   (goal 0; all in after {drained:.1f} s of drain)")
        print(f"duplicates at the plant        {sub.duplicates()}   (same topic and seq twice; "
              f"{extra} messages with a seq past the simulator's count)")
        print(f"fault messages at the plant    {sum(sub.faults.values())}   "
              f"({', '.join(f'{k}: {v}' for k, v in sorted(sub.faults.items())) or 'none'}; each takes a seq)")
        print(f"plant subscriber connections   {sub.connects}")
        print(f"end-to-end latency, plant      {quantiles_ms([x for _, x in latencies])}")
        print(f"  without the cut station      {quantiles_ms([x for t, x in latencies if cut_topic not in t])}")
        print(f"baseline: at the station's     {quantiles_ms(local.latencies)}")
        print("  own broker (st-01)")
        moves = [t for kd in kiosks for t in kd.moves]
        print(f"moves across the plant         {len(moves)} in {load_s:.0f} s = {len(moves) / load_s:.1f}/s "
              f"({args.kiosks} kiosks, one killed at 80 s; refused {sum(k.refused for k in kiosks)}, "
              f"failed requests {sum(k.failed for k in kiosks)})")
        per_station = [(cpu1[k] - cpu0[k]) / load_s * 100 for k in cpu1]
        print(f"CPU per station                mean {statistics.mean(per_station):.1f} %  max "
              f"{max(per_station):.1f} % of one core (gateway + its mosquitto)")
        print(f"memory per station             mean {statistics.mean(station_rss):.0f} MB RSS "
              f"(gateway {statistics.mean(gateway_rss):.0f} MB + mosquitto)")
        for name in node_cpu:
            print(f"broker node {name}             CPU {node_cpu[name] / load_s * 100:.1f} % of one core"
                  f"{' (killed and started again)' if name == 'plant-1' else ''}, RSS {node_rss[name]:.0f} MB")
        print(f"total wall time                {time.monotonic() - t_start:.0f} s")
    finally:
        stop_kiosks.set()
        for kd in kiosks:
            kd.stop()
        if local:
            local.close()
        if sub:
            sub.close()
        for st in stations:
            st.stop()
        nats.close()
        tmp.cleanup()
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
