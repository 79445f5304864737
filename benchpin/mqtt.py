"""The MQTT session (paho-mqtt 2.x) and the sender that feeds it from the durable outbox.

:class:`MqttSession` owns one paho client: Last Will ``offline`` and ``online`` birth on the
status topic (both retained), reconnect with backoff, username/password and TLS, and
subscriptions renewed on every connect. It starts while the broker is down.

:class:`OutboxSender` hands outbox messages to paho in order, never more than ``window``
unacknowledged at once (paho keys them by a 16-bit message id) and at most ``rate`` per
second, and removes each from the outbox only when its PUBACK arrives. It drives the session
itself (paho's external-loop API: ``socket()``, ``loop_read()``, ``loop_write()``,
``loop_misc()``) on one thread: publishes, PUBACKs and outbox acks never cross threads, and a
``put`` wakes the thread with one byte only when it is asleep. Messages still in flight when
the connection drops are sent again from the outbox on the next connection (a fresh paho
client each time), and a message the broker keeps disconnecting on is moved to dead letters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from benchpin import __version__
from benchpin.config import MqttConfig
from benchpin.contract import GatewayState, GatewayStatus, Message
from benchpin.flag import Flag
from benchpin.outbox import Outbox, OutboxMessage, mqtt_packet_size
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
                 status_message: Callable[..., Message] = GatewayStatus,
                 max_inflight: int = 0) -> None:
        self.config = config
        self.client_id = client_id
        self.status_topic = status_topic
        self._status_extra = status_extra or (lambda: {})
        self._status_message = status_message
        self.counters = SessionCounters()
        self.connected = Flag()  # .up is read on every put, without a call
        self._handlers: dict[str, list[MessageHandler]] = {}
        self._ack_listeners: list[Callable[[int], None]] = []
        self._connect_listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._started = False
        self._disconnect_logged = False
        self._status_trimmed = False  # warned once that the status was too big for the broker
        self._max_inflight = max_inflight
        self._disconnect_listeners: list[Callable[[], None]] = []
        # Driven mode (an OutboxSender calls poll() on its own thread instead of loop_start()).
        self._driven = False
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sleeping = False
        # Held by whichever thread works the socket in driven mode (the driver, or a thread that
        # publishes directly through OutboxSender); never held while waiting in select.
        self.io_lock = threading.Lock()
        self._next_attempt = 0.0
        self._retry_delay = 1.0
        self._attempts = 0  # connection attempts so far
        self._retry_for = -1  # the attempt whose loss is already scheduled for a retry
        self._up_at: float | None = None  # when the current connection was accepted (CONNACK)
        self._answered = False  # the broker acknowledged a message on the current connection
        self._status_drops = 0  # connections in a row lost soon after the status, before any PUBACK
        self._status_level = 0  # how much the status leaves out (see _status_variants)
        self._status_level_at = 0.0  # when it last left out more
        self._status_sent = 0  # bytes of the status published on the current connection
        self._last_misc = 0.0
        self.client = self._make_client()

    def _make_client(self) -> paho.Client:
        """Build a paho client with our will, credentials, TLS and callbacks."""
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=paho.MQTTv311, clean_session=True)
        if logging.getLogger("paho").isEnabledFor(logging.DEBUG):
            # paho logs a bare ERROR on every failed connect attempt; ours say it once, clearly.
            client.enable_logger(logging.getLogger("paho"))
        # 0 = no limit inside paho: with a limit, paho rescans its whole queue on every PUBACK
        # (measured: 3x slower drains). The OutboxSender's window is the bound instead.
        client.max_inflight_messages_set(self._max_inflight)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        config = self.config
        if config.username:
            client.username_pw_set(config.username, config.password())
        if config.tls:
            client.tls_set(ca_certs=config.ca_file or None, certfile=config.cert_file or None,
                           keyfile=config.key_file or None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if self.status_topic:
            client.will_set(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
        client.on_connect = self.on_connect
        client.on_disconnect = self.on_disconnect
        client.on_connect_fail = self.on_connect_fail
        client.on_publish = self.on_publish
        client.on_message = self.on_message
        return client

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
            self.call_soon(lambda: self._subscribe_now(topic))

    def _subscribe_now(self, topic: str) -> None:
        if self.connected.is_set():
            self.client.subscribe(topic, qos=1)

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the thread that drives paho (at once when paho runs its own thread)."""
        if not self._driven:
            call()
            return
        self._calls.put(call)
        self.wake()

    def drive_externally(self) -> None:
        """Let the caller drive paho with :meth:`poll` on one thread instead of ``loop_start()``."""
        if self._started:
            raise RuntimeError("drive_externally() must be called before start()")
        self._driven = True

    def corked(self) -> contextlib.AbstractContextManager[None]:
        """A block whose publishes leave the host in as few TCP segments as the socket allows.

        paho writes each packet with a ``send`` of its own; on Linux the block holds them in
        the kernel (``TCP_CORK`` on :meth:`paho.Client.socket`) and sends them together when
        it ends, so a burst costs the broker and the network a few large segments.
        """
        sock = self.client.socket()
        if _TCP_CORK is None or not isinstance(sock, socket.socket) or sock.family == socket.AF_UNIX:
            return contextlib.nullcontext()
        return _corked(sock)

    def wake(self) -> None:
        """Wake :meth:`poll` if it sleeps in ``select`` (one byte; none while it is busy)."""
        if self._sleeping:
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass

    def when_disconnected(self, listener: Callable[[], None]) -> None:
        self._disconnect_listeners.append(listener)

    def poll(self, timeout: float, has_work: Callable[[], bool] | None = None, *, linger: float = 0.0) -> None:
        """Connect or reconnect when due, then wait up to ``timeout`` for the socket and process it.

        Driven mode only, always from the same thread. ``has_work`` is checked after this
        thread announced it may sleep, so a concurrent :meth:`wake` is never missed. With
        ``linger`` > 0 the socket is not watched for up to ``linger`` seconds, only the wake-up:
        what arrived meanwhile (PUBACKs, mostly) is read when the caller is woken or the linger
        ends, so at a steady rate the acknowledgements of one reading are read on the wake-up of
        the next instead of costing a wake-up each.
        """
        with self.io_lock:
            while True:
                try:
                    call = self._calls.get_nowait()
                except queue.Empty:
                    break
                call()
            client = self.client
            sock = client.socket()
            now = time.monotonic()
            if sock is None and self._started and now >= self._next_attempt:
                self._connect_now()
                return
            want_write = sock is not None and client.want_write()
        if sock is None:
            wait = timeout if not self._started else min(timeout, self._next_attempt - now)
            self._wait_wake(wait, has_work)
            return
        self._sleeping = True
        if has_work is not None and has_work():
            timeout = 0.0
        lingering = linger > 0 and not want_write
        rlist: list[Any] = [self._wake_r] if lingering else [sock, self._wake_r]
        wlist: list[Any] = [sock] if want_write else []
        try:
            readable, _, _ = select.select(rlist, wlist, [], min(timeout, linger) if lingering else timeout)
        except (OSError, ValueError):
            readable = [sock]
        finally:
            self._sleeping = False
        if self._wake_r in readable:
            self._drain_wake()
        with self.io_lock:
            if client is not self.client or client.socket() is not sock:
                return  # another thread handled the connection meanwhile (see read_now())
            if lingering or sock in readable:  # lingering: a read that finds nothing returns at once
                self._read(client, sock)
            if client.socket() is not None and client.want_write():
                client.loop_write()
            now = time.monotonic()
            if now - self._last_misc >= 1.0 and client.socket() is not None:
                self._last_misc = now
                client.loop_misc()
            if client.socket() is None:
                self._lost()

    def _read(self, client: paho.Client, sock: Any) -> None:
        client.loop_read()
        for _ in range(64):  # bytes already read (or decrypted by TLS) that select cannot see
            if client.socket() is None or not _input_waiting(client, sock):
                break
            client.loop_read()

    def read_now(self) -> bool:
        """Handle what the broker has sent, without waiting; False when not connected.

        Driven mode, with :attr:`io_lock` held: lets a thread that is about to publish take the
        acknowledgements waiting on the socket itself.
        """
        client = self.client
        sock = client.socket()
        if sock is None or not self.connected.up:
            return False
        self._read(client, sock)
        if client.socket() is None:
            self._lost()
            return False
        return True

    def _wait_wake(self, timeout: float, has_work: Callable[[], bool] | None) -> None:
        self._sleeping = True
        try:
            if has_work is not None and has_work():
                timeout = 0.0
            readable, _, _ = select.select([self._wake_r], [], [], max(0.0, timeout))
        finally:
            self._sleeping = False
        if readable:
            self._drain_wake()

    def _drain_wake(self) -> None:
        try:
            os.read(self._wake_r, 4096)  # wake() writes only while we sleep: one read suffices
        except BlockingIOError:
            pass

    def _connect_now(self) -> None:
        """Open a fresh connection (a fresh paho client: nothing of the old one is resent by paho)."""
        self._attempts += 1
        self.client = self._make_client()
        try:
            self.client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        except (OSError, ValueError) as exc:
            log.debug("connect to %s:%d failed: %s", self.config.host, self.config.port, exc)
            self.on_connect_fail(self.client, None)
            self._schedule_retry()
            return
        self._last_misc = time.monotonic()

    def _schedule_retry(self) -> None:
        """Set when to connect again after this attempt failed or its connection was lost (once each).

        Whoever notices the loss calls this: the driver's poll, or paho inside a publish on
        another thread. The wait doubles, up to 10 s, and starts again at 1 s only after a
        connection the broker answered (a PUBACK) or that lasted 10 s: a broker that drops every
        connection at once (a status over its max_packet_size) is not reconnected to in a loop.
        """
        if self._retry_for == self._attempts:
            return
        self._retry_for = self._attempts
        now = time.monotonic()
        if self._up_at is not None:
            lasted, self._up_at = now - self._up_at, None
            if self._answered or lasted >= 10.0:
                self._retry_delay = 1.0
            self._count_status_drop(lasted)
        self._next_attempt = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, 10.0)

    def _count_status_drop(self, lasted: float) -> None:
        """A connection lost before the broker acknowledged anything, the status first of all.

        Twice in a row within a few seconds, and the status is taken for too big for this
        broker (its ``max_packet_size`` below ``mqtt.max_packet_bytes``): the next one leaves
        out more, and so does each one after it lost the same way, as long as leaving out
        makes it smaller and it is bigger than any broker's limit could sensibly be. A
        crash-looping broker looks the same; the status then says less for an hour, and the
        first connection after that tries it whole again.
        """
        if not self.status_topic or self._answered or lasted >= 5.0:
            self._status_drops = 0
            return
        self._status_drops += 1
        if self._status_drops < 2 or self._status_sent <= SMALLEST_PACKET_LIMIT:
            return
        variants = _status_variants(self._status_extra())
        sizes = [len(self._encode_status("online", v)) for v in variants]
        smaller = [i for i in range(self._status_level + 1, len(variants)) if sizes[i] < self._status_sent]
        if smaller:
            self._status_level, self._status_level_at = smaller[0], time.monotonic()
            log.error("broker %s:%d dropped the connection right after the retained status %d times in a "
                      "row, acknowledging nothing: its max_packet_size may be smaller than mqtt.max_packet_bytes "
                      "(%d); the status now goes without %s", self.config.host, self.config.port,
                      self._status_drops, self.config.max_packet_bytes, _STATUS_LEVELS[self._status_level])

    def _lost(self) -> None:
        if self.connected.is_set():  # paho closed the socket without telling us (e.g. keepalive)
            self.connected.clear()
            for listener in self._disconnect_listeners:
                listener()
        self._schedule_retry()

    def _pump(self, duration: float) -> None:
        """Drive the socket for up to ``duration`` seconds from the calling thread (while stopping)."""
        client = self.client
        sock = client.socket()
        if sock is None:
            return
        wlist = [sock] if client.want_write() else []
        try:
            readable, _, _ = select.select([sock], wlist, [], duration)
        except (OSError, ValueError):
            return
        if readable:
            client.loop_read()
        if client.socket() is not None and client.want_write():
            client.loop_write()

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
        if self._driven:
            self._next_attempt = 0.0  # the driver connects on its next poll()
            return
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
            self.call_soon(self._publish_status_now)

    def _publish_status_now(self) -> None:
        if self.status_topic and self.connected.is_set():
            self.client.publish(self.status_topic, self._status_payload("online"), qos=1, retain=True)

    def stop(self) -> None:
        """Publish ``offline``, disconnect cleanly and stop the network thread."""
        if not self._started:
            return
        self._started = False
        if self._driven:
            # The driver (the OutboxSender) has stopped: finish on this thread.
            with self.io_lock:
                self._stop_driven()
            return
        if self.status_topic and self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    def _stop_driven(self) -> None:
        if self.status_topic and self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
            deadline = time.monotonic() + 2.0
            while not info.is_published() and time.monotonic() < deadline and self.client.socket():
                self._pump(0.05)
        self.client.disconnect()
        self._pump(0.0)
        self.connected.clear()

    # ------------------------------------------------------------------ paho callbacks

    def _status_payload(self, state: str) -> bytes:
        variants = _status_variants(self._status_extra() if state == "online" else {})
        payload = self._encode_status(state, variants[self._status_level])
        if self.status_topic and not self._fits(payload):
            payload = self._smaller_status(state, variants, len(payload))
        return payload

    def _encode_status(self, state: str, extra: dict[str, Any]) -> bytes:
        status = self._status_message(state=GatewayState(state), ts=utc_ts(), version=__version__, **extra)
        return encode(status.to_payload())

    def _fits(self, payload: bytes) -> bool:
        assert self.status_topic is not None
        return mqtt_packet_size(self.status_topic, len(payload), 1) <= self.config.max_packet_bytes

    def _smaller_status(self, state: str, variants: list[dict[str, Any]], size: int) -> bytes:
        """The status without what makes it too big for the broker.

        A status over the broker's ``max_packet_size`` would get the session disconnected on
        every connect, and nothing else would ever be delivered. First the devices' counters go
        (each device keeps ``state`` and ``detail``), then the devices, then everything but
        ``state``, ``ts`` and ``version``.
        """
        level = min(self._status_level + 1, len(variants) - 1)
        for left_out, fewer in zip(_STATUS_LEVELS[level:], variants[level:]):
            payload = self._encode_status(state, fewer)
            if self._fits(payload):
                break
        if not self._status_trimmed:
            log.warning("the status on %s (%d bytes) is over mqtt.max_packet_bytes (%d): publishing it "
                        "without %s; raise mqtt.max_packet_bytes and the broker's max_packet_size",
                        self.status_topic, size, self.config.max_packet_bytes, left_out)
            self._status_trimmed = True
        return payload

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
        self._up_at, self._answered = time.monotonic(), False
        log.info("connected to broker %s:%d as %s", self.config.host, self.config.port, self.client_id)
        with self._lock:
            self.connected.set()
            topics = list(self._handlers)
        for topic in topics:
            client.subscribe(topic, qos=1)
        if self.status_topic:
            if self._status_level and time.monotonic() - self._status_level_at >= STATUS_LEVEL_HOLD_S:
                log.info("trying the whole retained status again on %s", self.status_topic)
                self._status_level = 0
            status = self._status_payload("online")
            self._status_sent = len(status)
            client.publish(self.status_topic, status, qos=1, retain=True)
        for listener in self._connect_listeners:
            listener()

    def on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any,
                      properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.counters.disconnects += 1
        if self._driven and self._started:
            self._schedule_retry()  # maybe noticed inside a publish, on a thread that is not the driver
        if was_connected:
            for listener in self._disconnect_listeners:
                listener()
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
        self._answered = True
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


SMALLEST_PACKET_LIMIT = 256  # no broker limit is set below this; a status this small is never the cause
STATUS_LEVEL_HOLD_S = 3600.0  # how long a smaller status is kept before the whole one is tried again
_STATUS_LEVELS = ("nothing", "the devices' counters", "the devices", "everything but its state")


def _status_variants(extra: dict[str, Any]) -> list[dict[str, Any]]:
    """The status's extra fields at each level of :data:`_STATUS_LEVELS`, each leaving out more."""
    devices = extra.get("devices")
    states = {name: {k: v for k, v in entry.items() if k in ("state", "detail")}
              for name, entry in devices.items() if isinstance(entry, dict)} if isinstance(devices, dict) else None
    without_devices = {k: v for k, v in extra.items() if k != "devices"}
    return [extra, {**extra, "devices": states} if states is not None else without_devices, without_devices, {}]


def _input_waiting(client: paho.Client, sock: Any) -> bool:
    """Bytes TLS has already decrypted, which ``select`` on the socket cannot see."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)  # Linux


@contextlib.contextmanager
def _corked(sock: socket.socket) -> Iterator[None]:
    assert _TCP_CORK is not None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 1)
    except OSError:  # closed meanwhile: paho sees it on its next read or write
        yield
        return
    try:
        yield
    finally:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_CORK, 0)  # sends what the block held
        except OSError:
            pass


@dataclass
class _RateLimiter:
    """Token bucket: at most ``rate`` tokens per second, bursts up to one second's worth.

    A rate below 1 still gathers one whole token (one message every ``1/rate`` seconds).
    """

    rate: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def available(self) -> int:
        if self.rate <= 0:
            return 1 << 30
        now = time.monotonic()
        self.tokens = min(max(self.rate, 1.0), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return int(self.tokens)


PROOF_TIMEOUT_S = 5.0  # how long a probing sender waits for the status PUBACK before sending anyway
PROBE_WINDOW_S = 1.0  # a broker refusing a message sent alone disconnects well within this
STREAM_LINGER_S = 0.25  # how long the sender's thread sleeps while puts send by themselves


class OutboxSender:
    """Move messages from the outbox to the broker, oldest first, in a bounded window.

    The sender's thread drives the session (see :meth:`MqttSession.poll`). A message that is
    the oldest in flight at ``refusals`` consecutive disconnects, each within
    ``refusal_window_s`` of sending it, is one the broker refuses (too large, not allowed):
    it is moved to the outbox's dead letters so the messages behind it flow again.

    A broker that crashes, hangs or loses its link right after a connection looks the same
    from here, so after the first such disconnect the message is *probed*: on each new
    connection the sender first waits for the broker to acknowledge the session's retained
    status (published on every connect), proof that this broker answers, and then sends the
    suspect alone. Only a disconnect that follows that proof, within ``PROBE_WINDOW_S`` of
    the suspect, counts again; its acknowledgement clears it; ``refusals`` such probes in a row
    move it aside. A session without a status topic has nothing to prove the connection with,
    and counts every quick disconnect.
    """

    def __init__(self, outbox: Outbox, session: MqttSession, *, window: int = 1000,
                 rate: float = 20_000.0, refusals: int = 3, refusal_window_s: float = 5.0,
                 ack_linger_s: float = 0.05, direct: bool = True) -> None:
        if not 0 < window < 65_535:
            raise ValueError("window must be between 1 and 65534 (paho keys messages by 16-bit id)")
        self.outbox = outbox
        self.session = session
        self.window = window
        self.refusals = refusals
        self.refusal_window_s = refusal_window_s
        self.ack_linger_s = ack_linger_s
        self.direct = direct  # puts may send from their own thread when the socket is free
        self._put_at = 0.0  # when the last message was put, and the gap before it
        self._put_gap = float("inf")
        self._limited = False  # the replay rate ran out of tokens: pause briefly, unlocked
        self._backlog = False  # the last fetch may have left messages waiting (a full window or batch)
        self._limiter = _RateLimiter(rate)
        self._acked: list[int] = []
        self._work = True
        self._stop = threading.Event()
        self._inflight: dict[int, tuple[int, float]] = {}  # mid -> (outbox id, sent at)
        self._last_id = 0
        self._suspect: tuple[int, int] = (0, 0)  # (outbox id, strikes)
        self._probing = False  # a suspect waits to be sent alone on a connection proven to answer
        self._proven = False  # the broker acknowledged something on this connection
        self._probe: tuple[int, float] | None = None  # (outbox id, sent at) of the suspect sent alone
        self._unproven = False  # no proof came in time: sending as usual, counting no strike
        self._connected_at = 0.0
        self.proof_timeout_s = PROOF_TIMEOUT_S
        self._generation = 0  # connections lost so far
        self.sent = 0
        self.rounds = 0  # times the sender's thread went round its loop (woke up), for tests
        self.dead_lettered = 0
        self.probes = 0  # suspects sent alone to see whether the broker refuses them
        self.heartbeat = time.monotonic()
        session.drive_externally()
        session.when_acknowledged(self._on_ack)
        session.when_connected(self._on_connected)
        session.when_disconnected(self._on_disconnected)
        outbox.when_put(self._on_put)
        outbox.before_commit(self._read_before_commit)
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _on_put(self) -> None:
        self._work = True
        now = time.monotonic()
        self._put_gap, self._put_at = now - self._put_at, now
        if self.direct and self.session.io_lock.acquire(blocking=False):
            # Nobody works the socket right now: send from this (the putting) thread. At a
            # furnace's rate that saves the sender thread a wake-up per reading, so it sleeps
            # through a steady stream.
            try:
                # A stream's PUBACKs are read before the outbox would write (_read_before_commit),
                # a tick's worth at a time; here only when the window fills.
                due = len(self._inflight) >= self.window // 4
                if self.session.connected.up and (not due or self.session.read_now()):
                    if self._acked:
                        self._settle_acks()
                    self._send_some()
                done = not self._work and not self.session.client.want_write()
            finally:
                self.session.io_lock.release()
            if done:
                return
        self.session.wake()

    def _read_before_commit(self) -> None:
        """The outbox is about to write messages that waited: take the PUBACKs that arrived first."""
        # A short wait: the writer must not run late; whoever has the socket reads them anyway.
        if not self.direct or not self.session.io_lock.acquire(timeout=0.02):
            return
        try:
            if self.session.connected.up and self.session.read_now():
                self._settle_acks()
        finally:
            self.session.io_lock.release()

    def _on_ack(self, mid: int) -> None:
        # On this thread (paho runs inside poll()): no hand-off, no lock.
        if self._probing and not self._proven:
            self._work = True  # the broker answered: the suspect may go now
        self._proven = True  # the status published on connect, or one of ours
        entry = self._inflight.pop(mid, None)
        if entry is not None:
            self._acked.append(entry[0])
            if self._probe is not None and entry[0] == self._probe[0]:
                self._end_probe()

    def _end_probe(self) -> None:
        """The suspect went through, or left the queue: back to a full window."""
        self._probing, self._probe, self._suspect = False, None, (0, 0)
        self._work = True

    def _on_connected(self) -> None:
        self._work = True
        self._proven = False
        self._probe = None
        self._unproven = False
        self._connected_at = time.monotonic()
        self._probing = self._suspect[1] > 0 and self.session.status_topic is not None

    def _on_disconnected(self) -> None:
        """Rewind to the oldest message in flight: the next connection sends it again."""
        self._generation += 1
        self._settle_acks()
        unproven, self._unproven = self._unproven, False
        probe, self._probe = self._probe, None
        if not self._inflight:
            if not unproven:
                self._suspect = (0, 0)
            return
        head, sent_at = min(self._inflight.values())  # the oldest outbox id, sent first
        self._last_id = head - 1
        self._inflight.clear()
        if unproven:
            return  # nothing proved this broker answers: the disconnect says nothing of the message
        suspect, strikes = self._suspect
        if self._probing:
            # Only the suspect, sent alone after the broker had answered, counts again; a
            # connection lost before that proves nothing either way.
            if probe is not None and probe[0] == suspect == head:
                strikes = strikes + 1 if time.monotonic() - probe[1] < PROBE_WINDOW_S else 0
        else:
            quick = time.monotonic() - sent_at < self.refusal_window_s
            strikes = strikes + 1 if (head == suspect and quick) else (1 if quick else 0)
        self._suspect = (head, strikes)
        # Probed: the first strike and then `refusals` probes in a row. A link that drops at
        # random can still fall between a probe and its PUBACK; it must do so every time.
        needed = self.refusals + 1 if self.session.status_topic is not None else self.refusals
        if strikes >= needed:
            self.outbox.dead_letter(head, f"the broker disconnected {strikes} times in a row right after it "
                                          f"was sent (over its max_packet_size, or not allowed by its ACL?)")
            self.dead_lettered += 1
            self._suspect = (0, 0)

    def _has_work(self) -> bool:
        return self._work or bool(self._acked)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self.rounds += 1
            try:
                with self.session.io_lock:
                    self._settle_acks()
                    self._send_some()
                    inflight = len(self._inflight)
                if self._limited:
                    self._limited = False
                    self._stop.wait(0.01)
                    continue
                # While a few messages await their PUBACK and nothing more waits, read the
                # acknowledgements on the next put or wake-up (after ack_linger_s at most; the
                # outbox's writer reads them before it would write them) rather than waking for
                # each one. While puts come faster than that they send by themselves: sleep
                # longer. A backlog (a replay after an outage), a slow trickle, or nothing: watch
                # the socket, so each batch of acknowledgements makes room for the next at once.
                streaming = (self._put_gap < self.ack_linger_s and not self._probing
                             and time.monotonic() - self._put_at < self.ack_linger_s)
                linger = (STREAM_LINGER_S if streaming else
                          self.ack_linger_s if 0 < inflight <= self.window // 2 and not self._backlog
                          else 0.0)
                self.session.poll(0.5, self._has_work, linger=linger)
            except Exception:  # keep delivering: log and retry after a pause
                log.exception("outbox sender failed; retrying")
                self._stop.wait(1.0)
        with self.session.io_lock:
            self._settle_acks()

    def _settle_acks(self) -> None:
        if self._acked:
            done, self._acked = self._acked, []
            self.outbox.ack(done)

    def _send_some(self) -> None:
        self._work = False
        if not self.session.connected.up:
            return
        if self._probing and not self._send_probe():
            return
        room = self.window - len(self._inflight)
        if self._inflight and room < min(250, self.window // 4 or 1):
            self._backlog = True  # maybe more to send: watch for the acks that make room
            return  # wait for acks to free a useful batch: fewer, larger fetches while draining
        limiter = self._limiter
        budget = min(room, 1000)
        if limiter.rate > 0 and limiter.tokens < budget:  # refill only when short (no call per reading)
            budget = min(budget, limiter.available())
        if budget <= 0:
            if room > 0:  # rate-limited: the sender comes back once tokens have refilled
                self._limited = True
                self._work = True
            return
        rows = self.outbox.fetch(self._last_id, budget)
        self._backlog = len(rows) == budget
        if not rows:
            return
        if len(rows) == 1:  # a furnace's steady rate: one at a time, nothing to cork, no loop
            sent = self._publish_one(rows[0])
        else:
            with self.session.corked():
                sent = self._publish_rows(rows)
        if not sent:
            return
        if limiter.rate > 0:
            limiter.tokens -= len(rows)
        self.sent += len(rows)
        if len(rows) == budget:
            self._work = True  # more may be waiting

    def _send_probe(self) -> bool:
        """Send the suspect alone once the broker has answered; True when probing is over."""
        if not self._proven and self._probe is None and (
                time.monotonic() - self._connected_at > self.proof_timeout_s):
            # The broker takes our messages but never acknowledged the status (an ACL that drops
            # it without a word?): send as usual rather than not at all, and count nothing.
            self._probing, self._unproven = False, True
            return True
        if self._probe is not None or not self._proven:
            return False  # the suspect is in flight alone, or the broker has not answered yet
        rows = self.outbox.fetch(self._last_id, 1)
        if not rows or rows[0].id != self._suspect[0] or not rows[0].qos:
            self._end_probe()  # the suspect is gone (acknowledged, dead-lettered): nothing to probe
            return True
        if self._publish_one(rows[0]):
            self._probe = (rows[0].id, time.monotonic())
            self.sent += 1
            self.probes += 1
        return False

    def _publish_one(self, row: OutboxMessage) -> bool:
        """Hand one row to paho; False if the connection dropped inside publish() (cursor rewound)."""
        generation = self._generation
        mid = self.session.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
        if self._generation != generation:
            return False
        self._record(mid, row, time.monotonic())
        return True

    def _record(self, mid: int, row: OutboxMessage, now: float) -> None:
        """Note a message handed to paho: in flight until its PUBACK (QoS 0 has none)."""
        if row.qos:
            self._inflight[mid] = (row.id, now)
        else:
            self._acked.append(row.id)  # paho has written it: that is all QoS 0 gets
        self._last_id = row.id

    def _publish_rows(self, rows: list[OutboxMessage]) -> bool:
        """Hand ``rows`` to paho in order; False if the connection dropped meanwhile."""
        publish = self.session.publish
        inflight = self._inflight
        now = time.monotonic()
        generation = self._generation
        for row in rows:
            mid = publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            if self._generation != generation:
                # The connection dropped inside publish(): the cursor was rewound, keep it there.
                return False
            if row.qos:
                inflight[mid] = (row.id, now)
                self._last_id = row.id
            else:
                self._record(mid, row, now)
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self.direct = False  # from here on only the stopping thread touches the session
        self._stop.set()
        self.session.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
