"""A paho client that moves many small packets in few system calls (driven mode only).

paho-mqtt writes every packet with a ``send`` of its own and reads every packet in three
``recv`` calls (header byte, length, body), and for MQTT 3.1.1 it builds a ``ReasonCode`` and a
``Properties`` object for each PUBACK. At thousands of QoS 1 readings a second those system
calls and objects are most of a gateway's CPU. :class:`BatchingClient` keeps paho's protocol
handling and changes only how bytes reach the socket:

- inside :meth:`BatchingClient.corked` packets are collected and written with one ``send``
  when the block ends (or as soon as the socket takes them, when it was full);
- reads fill a 64 KiB buffer with one ``recv`` and paho takes its small reads from it;
- a MQTT 3.1.1 PUBACK is decoded to its message id straight away, with one shared success
  reason code and an empty property set.

Bytes are never reordered: while anything is buffered, every later packet goes behind it.
The batching is only for a client driven by one thread with ``loop_read()``/``loop_write()``
(:class:`~benchpin.mqtt.MqttSession` in driven mode); with ``loop_start()`` it passes every
call straight through. It overrides three of paho's internal methods (``_sock_send``,
``_sock_recv``, ``_handle_pubackcomp``); :func:`supported` checks that this paho has them,
and the session falls back to a plain client when it does not.
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any, Iterator, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

READ_CHUNK = 65536
_HOOKS = ("_sock_send", "_sock_recv", "_handle_pubackcomp", "_do_on_publish", "_out_message_mutex")


def supported() -> bool:
    """Whether this paho has the internals :class:`BatchingClient` builds on."""
    probe = paho.Client(CallbackAPIVersion.VERSION2)
    return all(hasattr(probe, name) for name in _HOOKS)


class BatchingClient(paho.Client):
    """A paho client with corked writes, buffered reads and a light MQTT 3.1.1 PUBACK path."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batching = False  # set by the driver: only one thread touches the socket then
        self._corked = 0
        self._out = bytearray()
        self._in = bytearray()
        self._in_pos = 0
        self._puback_reason = ReasonCode(PacketTypes.PUBACK)
        self._puback_properties = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
        self.sends = 0  # socket writes made (for the benchmarks)

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Collect what is published in the block; write it in as few sends as the socket allows."""
        self._corked += 1
        try:
            yield
        finally:
            self._corked -= 1
            if not self._corked:
                self.flush_output()

    def _sock_send(self, buf: bytes | bytearray) -> int:
        if not self.batching or (not self._corked and not self._out):
            self.sends += 1
            return super()._sock_send(buf)
        self._out += buf  # paho counts it written; it leaves in order behind what waits
        if not self._corked:
            self.flush_output()
        return len(buf)

    def flush_output(self) -> None:
        """Write what is buffered, as far as the socket takes it now (the rest on writable)."""
        sock = self._sock
        while self._out and sock is not None:
            try:
                sent = sock.send(self._out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return
            except OSError:
                # The connection is gone: paho sees it on its next read (or keepalive) and the
                # outbox sends again whatever was not acknowledged.
                self._out.clear()
                return
            self.sends += 1
            del self._out[:sent]

    def want_write(self) -> bool:
        return bool(self._out) or super().want_write()

    def loop_write(self) -> MQTTErrorCode:
        if not self._corked:  # paho calls this from publish(): inside a cork it only collects
            self.flush_output()
            if self._out:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super().loop_write()

    # ------------------------------------------------------------------ reading

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.batching:
            return super()._sock_recv(bufsize)
        if self._in_pos >= len(self._in):
            chunk = super()._sock_recv(READ_CHUNK)  # BlockingIOError: nothing more for now
            if not chunk:
                return chunk  # the broker closed the connection
            self._in = bytearray(chunk)
            self._in_pos = 0
        start = self._in_pos
        end = min(start + bufsize, len(self._in))
        self._in_pos = end
        return bytes(self._in[start:end])

    def buffered_input(self) -> bool:
        """Whether bytes already read from the socket wait to be handled (select cannot see them)."""
        return self._in_pos < len(self._in)

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or self._protocol != MQTTProtocolVersion.MQTTv311 or len(packet) != 2:
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, self._puback_reason, self._puback_properties)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
