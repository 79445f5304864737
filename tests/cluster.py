"""A 3-node plant broker on loopback: the shipped nats-server.conf.example with only its names,
paths and ports moved, the users `benchpin plant` makes, and a node that can be killed and started again."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchpin.broker import end_process, free_port
from benchpin.plant import Plant, ensure_passwords, hash_password, nats_users, read_password

ROOT = Path(__file__).resolve().parents[1]
NATS_CONF = ROOT / "systemd" / "nats" / "nats-server.conf.example"


def find_nats_server() -> str:
    for candidate in (shutil.which("nats-server"), "/usr/sbin/nats-server", "/usr/local/bin/nats-server"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("nats-server is not installed (apt-get install -y nats-server)")


class NatsNode:
    """One plant broker node: its own ports and JetStream store; ``stop(kill=True)`` is a crash."""

    def __init__(self, name: str, workdir: Path, *, port: int, http_port: int, cluster_port: int,
                 mqtt_port: int) -> None:
        self.name = name
        self.workdir = workdir
        self.port, self.http_port, self.cluster_port, self.mqtt_port = port, http_port, cluster_port, mqtt_port
        self.config_path = workdir / "nats-server.conf"
        self.log_path = workdir / "nats-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([find_nats_server(), "-c", str(self.config_path)], stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def healthy(self) -> bool:
        """Say whether the node answers /healthz with 200 (its JetStream is ready)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited with {self.process.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {self.name} not healthy within {timeout}s")
            time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        end_process(self.process, kill=kill, timeout=15.0)
        self.process = None

    def __repr__(self) -> str:
        return f"<NatsNode {self.name} mqtt={self.mqtt_port} running={self.running}>"


class NatsCluster:
    """Three (``size``) nats-server nodes with MQTT on JetStream, R3, on free loopback ports.

    ``plant`` gives the users (`benchpin plant acl`'s block); ``plant_inventory`` writes the
    matching inventory whose ``brokers`` are the nodes' MQTT listeners.
    """

    def __init__(self, workdir: Path, *, size: int = 3) -> None:
        self.workdir = workdir
        self.route_password = secrets.token_hex(16)  # the example's ROUTE-PASSWORD
        self.nodes = []
        for i in range(1, size + 1):
            node_dir = workdir / f"plant-{i}"
            (node_dir / "jetstream").mkdir(parents=True, exist_ok=True)
            self.nodes.append(NatsNode(f"plant-{i}", node_dir, port=free_port(), http_port=free_port(),
                                       cluster_port=free_port(), mqtt_port=free_port()))

    def routes(self, node: NatsNode) -> int:
        """How many routes to other servers ``node`` has (its /routez)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/routez", timeout=2) as r:
            return int(json.load(r)["num_routes"])

    def outsider(self, name: str, *, password: str | None) -> NatsNode:
        """A server of nobody's plant that tries to join the cluster as a route (``password``: the
        route password it knows, None: none); started, for the caller to stop."""
        node_dir = self.workdir / name
        node_dir.mkdir(parents=True, exist_ok=True)
        node = NatsNode(name, node_dir, port=free_port(), http_port=free_port(), cluster_port=free_port(),
                        mqtt_port=0)
        login = f"route:{password}@" if password is not None else ""
        node.config_path.write_text(
            f"server_name: {name}\nlisten: 127.0.0.1:{node.port}\nhttp: 127.0.0.1:{node.http_port}\n"
            f"cluster {{\n  name: benchpin-plant\n  listen: 127.0.0.1:{node.cluster_port}\n"
            f"  authorization {{ user: route, password: \"{password or 'none'}\" }}\n"
            f"  routes: [ nats-route://{login}127.0.0.1:{self.nodes[0].cluster_port} ]\n}}\n")
        node.start()
        node.wait_healthy()
        return node

    @property
    def brokers(self) -> tuple[str, ...]:
        return tuple(f"127.0.0.1:{node.mqtt_port}" for node in self.nodes)

    def configure(self, plant: Plant) -> None:
        """Write every node's config from the shipped example, with the plant's users."""
        ensure_passwords(plant)
        hashes = {user: hash_password(read_password(plant, user), plant.bcrypt_rounds) for user in plant.users()}
        users = nats_users(plant, hashes)
        routes = "\n".join(f"    nats-route://route:{self.route_password}@127.0.0.1:{n.cluster_port}"
                           for n in self.nodes)
        shipped = NATS_CONF.read_text()
        tls = shipped[shipped.index("  tls {"):shipped.index("  }\n", shipped.index("  tls {")) + 4]
        for node in self.nodes:
            moves = {
                "server_name: plant-1": f"server_name: {node.name}",
                "listen: 127.0.0.1:4222": f"listen: 127.0.0.1:{node.port}",
                "http: 127.0.0.1:8222": f"http: 127.0.0.1:{node.http_port}",
                'store_dir: "/var/lib/nats/jetstream"': f'store_dir: "{node.workdir / "jetstream"}"',
                "max_file_store: 20GB": "max_file_store: 2GB",
                "listen: 0.0.0.0:6222": f"listen: 127.0.0.1:{node.cluster_port}",
                "    nats-route://route:ROUTE-PASSWORD@plant-1.example.com:6222\n"
                "    nats-route://route:ROUTE-PASSWORD@plant-2.example.com:6222\n"
                "    nats-route://route:ROUTE-PASSWORD@plant-3.example.com:6222": routes,
                'password: "ROUTE-PASSWORD"': f'password: "{self.route_password}"',
                "listen: 0.0.0.0:8883": f"listen: 127.0.0.1:{node.mqtt_port}",
                tls: "",  # loopback: no TLS in the test
            }
            text = shipped
            for before, after in moves.items():
                assert before in text, f"nats-server.conf.example no longer has {before!r}"
                text = text.replace(before, after)
            node.config_path.write_text(text)
            (node.workdir / "benchpin-plant-users.conf").write_text(users)

    def start(self, timeout: float = 60.0) -> None:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_healthy(timeout)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PlantSubscriber:
    """A plant-side MQTT 3.1.1 subscriber on a persistent session that moves to the next node when
    its node goes away, counting every QoS 1 message by (topic, ``seq``). A user with subscribe permissions subscribes
    to the filters it is allowed (NATS refuses ``benchpin/<site>/#`` to a user allowed less).

    ``on_message`` (optional) is called with (topic, payload dict, receive time) from paho's thread.
    """

    def __init__(self, nodes: tuple[str, ...], user: str, password: str, topic: str | tuple[str, ...], *,
                 client_id: str = "plant-subscriber", on_message: Callable[[str, dict[str, Any], float], None]
                 | None = None) -> None:
        self.nodes = nodes
        self.topics = (topic,) if isinstance(topic, str) else topic
        self._next = 0
        self._cond = threading.Condition()
        self.counts: dict[tuple[str, int], int] = {}
        self.faults: dict[str, int] = {}  # fault messages (they take a seq too), by fault
        self.connects = 0
        self._on_message_cb = on_message
        self._closing = False
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                                  protocol=paho.MQTTv311)
        self.client.username_pw_set(user, password)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]  # paho takes seconds as a float
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        host, port = self._address()
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(30):
            raise AssertionError("the plant subscriber could not subscribe")

    def _address(self) -> tuple[str, int]:
        host, _, port = self.nodes[self._next % len(self.nodes)].rpartition(":")
        return host, int(port)

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            return
        self.connects += 1
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if self._closing:
            return
        # The node may be gone: the next attempt goes to the next node of the cluster.
        self._next += 1
        host, port = self._address()
        client.connect_async(host, port, keepalive=10)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        now = time.time()
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            return
        seq = payload.get("seq") if isinstance(payload, dict) else None
        if isinstance(seq, int):
            with self._cond:
                key = (msg.topic, seq)
                self.counts[key] = self.counts.get(key, 0) + 1
                if payload.get("fault"):
                    self.faults[payload["fault"]] = self.faults.get(payload["fault"], 0) + 1
                self._cond.notify_all()
        if self._on_message_cb is not None and isinstance(payload, dict):
            self._on_message_cb(msg.topic, payload, now)

    def seqs(self, topic: str) -> set[int]:
        with self._cond:
            return {seq for (t, seq) in self.counts if t == topic}

    def duplicates(self) -> int:
        with self._cond:
            return sum(n - 1 for n in self.counts.values())

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def close(self) -> None:
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()
