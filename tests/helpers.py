"""Test helpers: a collecting MQTT subscriber, condition waits, config writing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as paho
import tomli_w
from paho.mqtt.enums import CallbackAPIVersion


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               message: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Subscriber:
    """A test's MQTT subscriber that records every message it receives.

    With ``persistent=True`` it uses a persistent session (clean_session=False), so with
    broker persistence it misses nothing published while the broker restarts.
    """

    def __init__(self, port: int, topic: str = "#", *, persistent: bool = False,
                 client_id: str | None = None) -> None:
        self.topic = topic
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"test-sub-{uuid.uuid4().hex[:8]}",
                                  clean_session=not persistent)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("test subscriber could not subscribe")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self._cond.notify_all()

    def payloads(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            items = list(self.messages)
        return [json.loads(p) for t, p, _ in items if topic is None or paho.topic_matches_sub(topic, t)]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], Any], topic: str | None = None,
                 timeout: float = 15.0, message: str = "messages") -> Any:
        return wait_until(lambda: predicate(self.payloads(topic)), timeout=timeout, message=message)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


ROOT = Path(__file__).resolve().parents[1]


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    """Write a config dict as TOML."""
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def start_gateway_process(config_path: Path) -> subprocess.Popen[bytes]:
    """Run ``benchpin gateway`` as a separate process (so a test can SIGKILL it)."""
    return subprocess.Popen([sys.executable, "-m", "benchpin", "gateway", "--config", str(config_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


# Debian's Chromium, driven by Playwright (its own browser download does not work offline).
CHROMIUM = {"executable_path": "/usr/bin/chromium", "headless": True,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]}
