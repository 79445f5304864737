"""The MQTT session (paho-mqtt 2.x) and the sender that feeds it from the durable outbox.

:class:`MqttSession` owns one paho client: Last Will ``offline`` and ``online`` birth on the
status topic (both retained), reconnect with backoff, username/password and TLS, and
subscriptions renewed on every connect. It starts while the broker is down.

:class:`OutboxSender` hands outbox messages to paho in order, never more than ``window``
unacknowledged at once (paho keys them by a 16-bit message id) and at most ``rate`` per
second, and removes each from the outbox only when its PUBACK arrives.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchpin import __version__
from benchpin.config import MqttConfig
from benchpin.contract import GatewayState, GatewayStatus
from benchpin.outbox import Outbox
from benchpin.topics import encode, utc_ts

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]


@dataclass
class SessionCounters:
    connects: int = 0
    disconnects: int = 0
    published: int = 0
    acknowledged: int = 0
    received: int = 0
    handler_errors: int = 0


class MqttSession:
    """One connection to the broker, kept up for as long as the service runs."""

    def __init__(self, config: MqttConfig, *, client_id: str, status_topic: str | None = None,
                 status_extra: Callable[[], dict[str, Any]] | None = None,
                 max_inflight: int = 0) -> None:
        self.config = config
        self.client_id = client_id
        self.status_topic = status_topic
        self._status_extra = status_extra or (lambda: {})
        self.counters = SessionCounters()
        self.connected = threading.Event()
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._ack_listeners: list[Callable[[int], None]] = []
        self._connect_listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._started = False
        self._disconnect_logged = False
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv311, clean_session=True)
        if logging.getLogger("paho").isEnabledFor(logging.DEBUG):
            # paho logs a bare ERROR on every failed connect attempt; ours say it once, clearly.
            self.client.enable_logger(logging.getLogger("paho"))
        # 0 = no limit inside paho: with a limit, paho rescans its whole queue on every PUBACK
        # (measured: 3x slower drains). The OutboxSender's window is the bound instead.
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        if config.username:
            self.client.username_pw_set(config.username, config.password())
        if config.tls:
            self.client.tls_set(ca_certs=config.ca_file or None, certfile=config.cert_file or None,
                                keyfile=config.key_file or None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if status_topic:
            self.client.will_set(status_topic, self._status_payload("offline"), qos=1, retain=True)
        self.client.on_connect = self.on_connect
        self.client.on_disconnect = self.on_disconnect
        self.client.on_connect_fail = self.on_connect_fail
        self.client.on_publish = self.on_publish
        self.client.on_message = self.on_message

    # ------------------------------------------------------------------ public API

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Deliver messages on ``topic`` to ``handler`` (renewed on every reconnect).

        Several handlers may share a topic. A handler runs on paho's network thread: it must
        decode and hand off, never block.
        """
        # Under the lock on_connect takes too: either its snapshot has the topic or we see it
        # connected and subscribe ourselves (both at worst: a harmless second SUBSCRIBE).
        with self._lock:
            self._handlers.setdefault(topic, []).append(handler)
            connected = self.connected.is_set()
        if connected:
            self.client.subscribe(topic, qos=1)

    def when_acknowledged(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(mid)`` for every PUBACK; it runs on paho's thread and must not block."""
        self._ack_listeners.append(listener)

    def when_connected(self, listener: Callable[[], None]) -> None:
        self._connect_listeners.append(listener)

    def start(self) -> None:
        """Connect in the background; the service runs on while the broker is down."""
        if self._started:
            return
        self._started = True
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """Hand one message to paho; return its message id."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        self.counters.published += 1
        return info.mid

    def publish_status(self) -> None:
        """Publish the retained ``online`` status with the current counters (not persisted)."""
        if self.status_topic and self.connected.is_set():
            self.client.publish(self.status_topic, self._status_payload("online"), qos=1, retain=True)

    def stop(self) -> None:
        """Publish ``offline``, disconnect cleanly and stop the network thread."""
        if not self._started:
            return
        self._started = False
        if self.status_topic and self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    # ------------------------------------------------------------------ paho callbacks

    def _status_payload(self, state: str) -> bytes:
        extra = self._status_extra() if state == "online" else {}
        status = GatewayStatus(state=GatewayState(state), ts=utc_ts(), version=__version__,
                               outbox=extra.get("outbox"), devices=extra.get("devices"))
        return encode(status.to_payload())

    def on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any,
                   properties: Any) -> None:
        if reason_code.is_failure:
            if not self._disconnect_logged:
                log.error("broker %s:%d refused the connection: %s (check mqtt.username and "
                          "mqtt.password_file); retrying with backoff", self.config.host, self.config.port,
                          reason_code)
                self._disconnect_logged = True
            return
        self.counters.connects += 1
        self._disconnect_logged = False
        log.info("connected to broker %s:%d as %s", self.config.host, self.config.port, self.client_id)
        with self._lock:
            self.connected.set()
            topics = list(self._handlers)
        for topic in topics:
            client.subscribe(topic, qos=1)
        if self.status_topic:
            client.publish(self.status_topic, self._status_payload("online"), qos=1, retain=True)
        for listener in self._connect_listeners:
            listener()

    def on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any,
                      properties: Any) -> None:
        self.connected.clear()
        self.counters.disconnects += 1
        if not self._disconnect_logged and self._started:
            log.warning("lost the broker %s:%d (%s); reconnecting with backoff, messages wait in the outbox",
                        self.config.host, self.config.port, reason_code)
            self._disconnect_logged = True

    def on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        if not self._disconnect_logged:
            log.warning("cannot reach broker %s:%d; retrying with backoff, messages wait in the outbox",
                        self.config.host, self.config.port)
            self._disconnect_logged = True

    def on_publish(self, client: paho.Client, userdata: Any, mid: int, reason_code: Any,
                   properties: Any) -> None:
        self.counters.acknowledged += 1
        for listener in self._ack_listeners:
            listener(mid)

    def on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.counters.received += 1
        with self._lock:
            handlers = [h for t, hs in self._handlers.items() if paho.topic_matches_sub(t, message.topic)
                        for h in hs]
        for handler in handlers:
            try:
                handler(message.topic, bytes(message.payload))
            except Exception:  # a bad handler must not kill paho's network thread
                self.counters.handler_errors += 1
                log.exception("handler for %s failed on a message", message.topic)


@dataclass
class _RateLimiter:
    """Token bucket: at most ``rate`` tokens per second, bursts up to one second's worth."""

    rate: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def available(self) -> int:
        if self.rate <= 0:
            return 1 << 30
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return int(self.tokens)

    def take(self, n: int) -> None:
        if self.rate > 0:
            self.tokens -= n


class OutboxSender:
    """Move messages from the outbox to the broker, oldest first, in a bounded window."""

    def __init__(self, outbox: Outbox, session: MqttSession, *, window: int = 1000,
                 rate: float = 20_000.0) -> None:
        if not 0 < window < 65_535:
            raise ValueError("window must be between 1 and 65534 (paho keys messages by 16-bit id)")
        self.outbox = outbox
        self.session = session
        self.window = window
        self._limiter = _RateLimiter(rate)
        self._acks: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[int, int] = {}
        self._last_id = 0
        self.sent = 0
        self.heartbeat = time.monotonic()
        session.when_acknowledged(self._on_ack)
        session.when_connected(self._wake.set)
        outbox.when_committed(self._wake.set)
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _on_ack(self, mid: int) -> None:
        self._acks.put(mid)
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self._wake.clear()
            try:
                self._settle_acks()
                self._send_some()
            except Exception:  # keep delivering: log and retry after a pause
                log.exception("outbox sender failed; retrying")
                self._stop.wait(1.0)
            self._wake.wait(0.5)

    def _settle_acks(self) -> None:
        done: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            row = self._inflight.pop(mid, None)
            if row is not None:
                done.append(row)
        self.outbox.ack(done)

    def _send_some(self) -> None:
        if not self.session.connected.is_set():
            return
        room = self.window - len(self._inflight)
        budget = min(room, self._limiter.available(), 1000)
        if budget <= 0:
            if room > 0:  # rate-limited: come back once tokens have refilled
                self._stop.wait(0.01)
                self._wake.set()
            return
        rows = self.outbox.fetch(self._last_id, budget)
        for row in rows:
            mid = self.session.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            self._inflight[mid] = row.id
            self._last_id = row.id
        self._limiter.take(len(rows))
        self.sent += len(rows)
        if len(rows) == budget:
            self._wake.set()  # more may be waiting

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
