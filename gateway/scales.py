"""Bench balances: MT-SICS, A&D and Ohaus balances on serial ports, weighing metal in and out.

Each balance is a :class:`BenchScale` (a :class:`~gateway.supervisor.Device`) that polls the
balance every ``poll_s`` and hands what it answers to a :class:`ScaleBridge`, which decides
what reaches the outbox: a stable weight when it changed by at least the balance's resolution,
a fault once when it starts, and the retained state with both. Tare and zero arrive on the
balance's command topic and are written to the port by the device's own thread (only that
thread touches the port). Name ports by ``/dev/serial/by-id/…`` or a udev symlink.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

import serial

from benchpin.config import ScaleConfig
from benchpin.contract import ContractError, ScaleCommand, ScaleFault, ScaleState, ScaleWeight
from benchpin.outbox import Outbox, OutboxWriteError
from benchpin.topics import utc_ts
from firmware_bridge.scales import (BalanceError, CommandReply, ScaleLineError, ScaleLineFramer, Weight,
                                    even_parity, protocol_for)
from gateway.serialport import open_port, read_available
from gateway.supervisor import DeviceFailure, Stalled, Supervisor
from gateway.wiring import Wiring

log = logging.getLogger(__name__)

COMMAND_TTL_S = 5.0  # a tare not sent by then is dropped: the pan may hold something else by now
BUSY = ("S I",)  # MT-SICS "cannot send now" (taring, zeroing): no fault, the next poll reads


@dataclass
class ScaleCounters:
    polls: int = 0
    readings: int = 0
    published: int = 0
    faults: int = 0
    bad_lines: int = 0
    busy: int = 0
    high_bit_bytes: int = 0  # bytes with bit 7 set: a 7-bit balance on a port opened 8N1
    commands: int = 0
    commands_done: int = 0
    commands_refused: int = 0
    commands_unanswered: int = 0
    commands_dropped: int = 0
    bad_commands: int = 0
    reopens: int = 0
    rejected: int = 0  # weights the outbox refused (its disk failing): sent again once it writes


class ScaleBridge:
    """Turn one balance's replies into its weight and state messages in the outbox.

    A stable weight is published when it differs from the last published one by at least the
    balance's resolution, and at most once per ``poll_s``. A fault (overload, underload,
    unstable_timeout, disconnected, bad_line) is published once, when it starts; the next
    stable weight ends it and is published even if unchanged. Every weight and fault also
    updates the retained state (last stable weight, fault now).
    """

    def __init__(self, outbox: Outbox, weight_topic: str, state_topic: str, scale_id: str, *,
                 poll_s: float, unstable_timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.outbox = outbox
        self.weight_topic = weight_topic
        self.state_topic = state_topic
        self.seq_key = f"scale/{scale_id}"
        self.poll_s = poll_s
        self.unstable_timeout_s = unstable_timeout_s
        self.counters = ScaleCounters()
        self.last_grams: float | None = None
        self.fault: str | None = None
        self._clock = clock
        self._published_at = -float("inf")
        self._refused = False  # the last weight was not accepted: the next stable one goes, changed or not
        self._unstable_since: float | None = None
        self._lock = threading.Lock()

    def handle_weight(self, weight: Weight) -> None:
        with self._lock:
            self.counters.readings += 1
            now = self._clock()
            if weight.fault is not None:
                self._unstable_since = None
                self._start_fault(weight.fault, None)
                return
            if not weight.stable:
                if self._unstable_since is None:
                    self._unstable_since = now
                elif now - self._unstable_since >= self.unstable_timeout_s:
                    self._start_fault(ScaleFault.UNSTABLE_TIMEOUT, weight.grams)
                return
            self._unstable_since = None
            assert weight.grams is not None
            if self.fault is None and not self._refused:
                step = max(weight.resolution_g, 1e-9) * (1 - 1e-6)  # a whole step, float noise aside
                if self.last_grams is not None and abs(weight.grams - self.last_grams) < step:
                    return
                if now - self._published_at < self.poll_s:
                    return  # changed again within a poll: the next reply publishes it
            self.fault = None
            self.last_grams = weight.grams
            self._publish(weight.grams, True, None, now)

    def handle_bad_input(self, problem: str) -> None:
        with self._lock:
            self.counters.bad_lines += 1
            if self.fault != ScaleFault.BAD_LINE:
                log.warning("%s: bad line (%s); counting further bad lines quietly", self.weight_topic, problem)
            self._start_fault(ScaleFault.BAD_LINE, None)

    def handle_failure(self) -> None:
        """The port failed or the balance stopped answering: publish ``disconnected`` once."""
        with self._lock:
            self._unstable_since = None
            self._start_fault(ScaleFault.DISCONNECTED, None)

    def when_state_changed(self, supervisor: Supervisor) -> None:
        if supervisor.state == "down":
            self.counters.reopens += 1
            self.handle_failure()

    def _start_fault(self, fault: str, grams: float | None) -> None:
        if self.fault == fault:
            return
        self.fault = fault
        self.counters.faults += 1
        self._publish(grams, False, fault, self._clock())

    def _publish(self, grams: float | None, stable: bool, fault: str | None, now: float) -> None:
        self._published_at = now
        ts = utc_ts()
        scale_fault = ScaleFault(fault) if fault else None
        weight = ScaleWeight(ts=ts, seq=None, grams=grams, stable=stable, fault=scale_fault)
        state = ScaleState(ts=ts, seq=None, grams=self.last_grams, fault=scale_fault)
        try:
            # Weights are what the metal ledger is built on: never dropped when the outbox is full.
            self.outbox.put(self.weight_topic, weight.to_payload(), seq_key=self.seq_key, kind="weight")
        except OutboxWriteError as exc:
            # Refused, not lost silently: counted, and the next stable weight is sent even if unchanged.
            self.counters.rejected += 1
            if not self._refused:
                log.error("%s: weight not accepted: %s", self.weight_topic, exc)
            self._refused = True
            return
        self._refused = False
        self.counters.published += 1
        try:
            self.outbox.put(self.state_topic, state.to_payload(), seq_key=self.seq_key + "/state", retain=True,
                            kind="state")
        except OutboxWriteError as exc:  # the weight went: the retained state catches up with the next one
            log.warning("%s: state not accepted: %s", self.state_topic, exc)


@dataclass(frozen=True)
class _Pending:
    action: str
    operator: str
    at: float


class BenchScale:
    """A bench balance on a serial port (RS-232 through a USB-serial adapter, or USB CDC).

    Sends the family's poll every ``poll_s`` and reads what comes back; no answer for
    ``stall_timeout_s`` is a failure (reopened by the supervisor). A tare or zero is sent
    between polls, one at a time; polling waits for its answer (at most ``COMMAND_TTL_S`` or
    the stall timeout, whichever is longer). Bytes arriving with bit 7
    set mean a 7-bit balance on a port opened 8N1: they are read with bit 7 cleared, and from
    then on commands are sent with an even-parity bit 7 so the balance can read them (a
    degraded mode, warned about once: set ``bytesize = 7`` and ``parity = "E"``).
    """

    def __init__(self, config: ScaleConfig, bridge: ScaleBridge, *,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial) -> None:
        self.config = config
        self.name = f"scale {config.id}"
        self.bridge = bridge
        self.protocol = protocol_for(config.kind)
        self._serial_factory = serial_factory
        self._serial: serial.Serial | None = None
        self._framer = ScaleLineFramer(split_after=self.protocol.split_after)
        self._commands: deque[tuple[ScaleCommand, float]] = deque()
        self._commands_lock = threading.Lock()
        self._pending: _Pending | None = None
        self._next_poll = 0.0
        self._last_data = time.monotonic()
        self.seven_bit_fallback = False

    # ------------------------------------------------------------------ MQTT side (paho's thread)

    def on_command(self, topic: str, payload: bytes) -> None:
        """Queue a tare or zero for the device thread; refuse what is not one."""
        counters = self.bridge.counters
        try:
            command = ScaleCommand.from_payload(payload)
        except ContractError as exc:
            counters.bad_commands += 1
            log.warning("%s: refused a command: %s", self.name, exc)
            return
        if self._serial is None:
            counters.commands_dropped += 1
            log.warning("%s: %s by %s dropped: the balance is not connected", self.name, command.action,
                        command.operator or "?")
            return
        with self._commands_lock:
            self._commands.append((command, time.monotonic()))

    # ------------------------------------------------------------------ device (the supervisor's thread)

    def open(self) -> None:
        factory = functools.partial(self._serial_factory, bytesize=self.config.bytesize, parity=self.config.parity)
        self._serial = open_port(factory, self.config.port, self.config.baudrate, 0.05)
        self._framer = ScaleLineFramer(split_after=self.protocol.split_after)
        self._pending = None
        self._next_poll = 0.0
        self._last_data = time.monotonic()

    def poll(self) -> None:
        now = time.monotonic()
        self._send_next_command(now)
        # No polls while a tare or zero is under way: the balance answers one command at a time
        # (an MT-SICS tare waits for stability), and its answer must not be taken for a weight's.
        if self._pending is None and now >= self._next_poll:
            self._next_poll = now + self.config.poll_s
            self.bridge.counters.polls += 1
            self._write(self.protocol.poll)
        pending = self._pending
        if pending is not None and now - pending.at > max(COMMAND_TTL_S, self.config.stall_timeout_s):
            self.bridge.counters.commands_unanswered += 1
            log.warning("%s: no answer to %s by %s", self.name, pending.action, pending.operator or "?")
            self._pending = None
        assert self._serial is not None
        data = read_available(self._serial, self.config.port)
        if not data:
            if self._pending is None and now - self._last_data > self.config.stall_timeout_s:
                raise Stalled(f"no answer from {self.config.port} for {self.config.stall_timeout_s:g}s")
            return
        self._last_data = now
        before = self._framer.high_bit_bytes
        lines = self._framer.feed(data)
        if self._framer.high_bit_bytes > before:
            self._seven_bits_seen(self._framer.high_bit_bytes - before)
        for line in lines:
            self.handle_line(line)

    def handle_line(self, line: bytes) -> None:
        try:
            reply = self.protocol.parse_line(line)
        except ScaleLineError as exc:
            self.bridge.handle_bad_input(str(exc))
            return
        if isinstance(reply, Weight):
            self.bridge.handle_weight(reply)
        elif isinstance(reply, CommandReply):
            self._answered(reply.done, reply.detail)
        elif isinstance(reply, BalanceError):
            if reply.code in BUSY:
                self.bridge.counters.busy += 1
            elif self._pending is not None:
                self._answered(False, f"{reply.code}: {reply.detail}")
            else:
                self.bridge.handle_bad_input(f"the balance answered {reply.code} ({reply.detail})")

    def _send_next_command(self, now: float) -> None:
        if self._pending is not None:
            return  # one command at a time: the balance answers them in order
        with self._commands_lock:
            if not self._commands:
                return
            command, queued_at = self._commands.popleft()
        operator = command.operator or "?"
        if now - queued_at > COMMAND_TTL_S:
            self.bridge.counters.commands_dropped += 1
            log.warning("%s: %s by %s dropped: waited %.1fs", self.name, command.action, operator, now - queued_at)
            return
        self.bridge.counters.commands += 1
        log.info("%s: %s by %s", self.name, command.action, operator)
        self._pending = _Pending(command.action.value, operator, now)
        self._write(self.protocol.commands[command.action.value])

    def _answered(self, done: bool, detail: str) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            log.info("%s: unasked answer from the balance: %s", self.name, detail)
            return
        if done:
            self.bridge.counters.commands_done += 1
            log.info("%s: %s by %s done (%s)", self.name, pending.action, pending.operator, detail)
        else:
            self.bridge.counters.commands_refused += 1
            log.warning("%s: %s by %s refused by the balance: %s", self.name, pending.action, pending.operator,
                        detail)

    def _seven_bits_seen(self, count: int) -> None:
        self.bridge.counters.high_bit_bytes += count
        if not self.seven_bit_fallback and self.config.bytesize == 8:
            self.seven_bit_fallback = True
            log.warning("%s: bytes with bit 7 set on %s: the balance sends 7 data bits with parity; reading "
                        "them with bit 7 cleared and sending with even parity (set bytesize = 7, parity = \"E\" "
                        "so the port checks parity)", self.name, self.config.port)

    def _write(self, data: bytes) -> None:
        assert self._serial is not None
        if self.seven_bit_fallback:
            data = even_parity(data)
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            raise DeviceFailure(f"write to {self.config.port} failed: {exc}") from exc

    def close(self) -> None:
        if self._pending is not None:
            log.warning("%s: %s by %s unanswered: the port closed", self.name, self._pending.action,
                        self._pending.operator)
            self.bridge.counters.commands_unanswered += 1
            self._pending = None
        if self._serial is not None:
            port, self._serial = self._serial, None
            port.close()

    def __repr__(self) -> str:
        return f"<BenchScale {self.config.id} {self.config.kind} port={self.config.port} open={self._serial is not None}>"


def build_scales(scales: Sequence[ScaleConfig], wiring: Wiring) -> None:
    """Put every configured balance under supervision and subscribe its command topic."""
    topics, gateway_id = wiring.topics, wiring.gateway_id
    for config in scales:
        bridge = ScaleBridge(wiring.outbox, topics.scale_weight(gateway_id, config.id),
                             topics.scale_state(gateway_id, config.id), config.id,
                             poll_s=config.poll_s, unstable_timeout_s=config.unstable_timeout_s)
        device = BenchScale(config, bridge)
        wiring.add_device(device, counters=bridge.counters, when_state_changed=bridge.when_state_changed)
        wiring.subscribe(topics.scale_command(gateway_id, config.id), device.on_command)
