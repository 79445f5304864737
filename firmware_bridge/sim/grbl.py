"""A simulated GRBL 1.1 laser controller on a pty, for the demo, the tests and the benchmark.

It behaves like the firmware where streaming depends on it: bytes arrive at the configured
baud rate (10 bits a byte) into a 128-byte RX buffer (overflowing bytes are dropped and
counted, as GRBL's serial interrupt drops them); lines move into a planner of 15 blocks and
are answered ``ok`` then; each motion takes its length ÷ feed (÷ ``speedup``); ``?``, ``!``,
``~`` and 0x18 act at once. Tests drive the machine: :meth:`GrblSim.trigger_alarm`,
:meth:`GrblSim.fail_line`, :meth:`GrblSim.set_door`, :meth:`GrblSim.unlock`, and read what
it received in :attr:`GrblSim.lines` and :attr:`GrblSim.events`.
"""

from __future__ import annotations

import select
import threading
import time
from collections import deque

from firmware_bridge.gcode_trace import GcodeError, GcodeTracer, Move
from firmware_bridge.grbl import Status, format_status
from firmware_bridge.sim.pty import PtyLink
from firmware_bridge.streamer import RX_BUFFER_SIZE

BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
PLANNER_BLOCKS = 15
DEFAULT_SETTINGS = {0: "10", 1: "25", 10: "1", 11: "0.010", 13: "0", 20: "0", 21: "0", 22: "0",
                    30: "1000", 31: "0", 32: "1", 100: "80.000", 101: "80.000", 110: "3000.000",
                    111: "3000.000", 130: "300.000", 131: "300.000"}


class GrblSim:
    """A GRBL 1.1 laser behind ``link``; ``start()`` runs it in a thread."""

    def __init__(self, link: str, *, baudrate: int = 115200, speedup: float = 1.0,
                 min_block_s: float = 0.0005, rapid_mm_min: float = 3000.0) -> None:
        self.pty = PtyLink(link)
        self.byte_time = 10.0 / baudrate
        self.speedup = speedup
        self.min_block_s = min_block_s
        self.rapid_mm_min = rapid_mm_min
        self.settings = dict(DEFAULT_SETTINGS)
        self.received = bytearray()  # every byte received that is not a real-time command
        self.lines: list[str] = []  # every line received, in order (G-code and $ commands)
        self.events: list[tuple[str, str]] = []  # ("line", text) and ("rt", "?"/"!"/"~"/"reset")
        self.overflows = 0
        self.resets = 0
        self.alarm: int | None = None
        self.door_open = False
        self._door_hold = False
        self._held = False
        self._lock = threading.RLock()
        self._wire: deque[int] = deque()
        self._wire_head = 0.0  # arrival time of the first byte on the wire
        self._wire_free = 0.0
        self._rx = bytearray()
        self._arriving = bytearray()
        self._planner: deque[tuple[Move, float]] = deque()  # (move, seconds left)
        self._tracer = GcodeTracer()
        self._tx: deque[tuple[float, bytes]] = deque()
        self._tx_free = 0.0
        self._failures: dict[int, int] = {}
        self._gcode_count = 0
        self._last_step = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ test controls

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="grbl-sim", daemon=True)
        self._thread.start()
        with self._lock:
            self._send(BANNER)

    def trigger_alarm(self, code: int) -> None:
        """Raise ``ALARM:code`` as a limit switch would: halt, flush buffers, lock."""
        with self._lock:
            self._flush()
            self.alarm = code
            self._send(f"ALARM:{code}\r\n".encode())

    def unlock(self) -> None:
        """Clear the alarm as an operator does at the machine (``$X``)."""
        with self._lock:
            self.alarm = None

    def fail_line(self, number: int, code: int) -> None:
        """Answer the ``number``-th G-code line received (1-based) with ``error:code``."""
        with self._lock:
            self._failures[number] = code

    def send_raw(self, data: bytes) -> None:
        """Put bytes on the controller's TX line as they are (noise, a confused firmware)."""
        with self._lock:
            self._send(data)

    def set_door(self, is_open: bool) -> None:
        """Open or close the safety door input; opening holds motion (state Door)."""
        with self._lock:
            self.door_open = is_open
            if is_open:
                self._door_hold = True

    @property
    def gcode_lines(self) -> list[str]:
        with self._lock:
            return [line for line in self.lines if line and not line.startswith("$")]

    @property
    def wire_empty(self) -> bool:
        """Every byte sent so far has reached the controller."""
        with self._lock:
            return not self._wire

    def status(self) -> Status:
        with self._lock:
            return self._status()

    # ------------------------------------------------------------------ the machine

    def _status(self) -> Status:
        if self.alarm is not None:
            state, sub = "Alarm", None
        elif self._door_hold:
            state, sub = "Door", 1 if self.door_open else 0
        elif self._held and self._planner:
            state, sub = "Hold", 0
        elif self._planner:
            state, sub = "Run", None
        else:
            state, sub = "Idle", None
        move = self._planner[0][0] if self._planner and state == "Run" else None
        power = self._tracer.power if move and move.burning else 0.0
        return Status(state, sub, (self._tracer.x, self._tracer.y, 0.0) if not move else (move.x0, move.y0, 0.0),
                      None, move.feed if move else 0.0, power, "D" if self.door_open else "")

    def _send(self, data: bytes) -> None:
        ready = max(time.monotonic(), self._tx_free) + len(data) * self.byte_time
        self._tx_free = ready
        self._tx.append((ready, data))

    def _flush(self) -> None:
        self._rx.clear()
        self._arriving.clear()
        self._planner.clear()
        self._held = False

    def _realtime(self, byte: int) -> None:
        char = {0x3F: "?", 0x21: "!", 0x7E: "~", 0x18: "reset"}[byte]
        self.events.append(("rt", char))
        if char == "?":
            self._send(format_status(self._status()).encode() + b"\r\n")
        elif char == "!":
            if self._planner:
                self._held = True
        elif char == "~":
            if not self.door_open:
                self._door_hold = self._held = False
        else:
            self.resets += 1
            moving = bool(self._planner) and not (self._held or self._door_hold)
            self._flush()
            self._door_hold = self.door_open
            if moving and self.alarm is None:
                self.alarm = 3
                self._send(b"ALARM:3\r\n")
            self._send(BANNER)
            if self.alarm is not None:
                self._send(b"[MSG:'$H'|'$X' to unlock]\r\n")

    def _command(self, line: str) -> None:
        if not line:
            self._send(b"ok\r\n")
            return
        if line.startswith("$"):
            self._setting(line)
            return
        self._gcode_count += 1
        if self.alarm is not None:
            self._send(b"error:9\r\n")
            return
        code = self._failures.pop(self._gcode_count, None)
        if code is not None:
            self._send(f"error:{code}\r\n".encode())
            return
        try:
            move = self._tracer.feed_line(line)
        except GcodeError as exc:
            self._send(f"error:{exc.code}\r\n".encode())
            return
        if move is not None and move.length > 0:
            feed = move.feed or self.rapid_mm_min
            seconds = max(self.min_block_s, move.length / feed * 60.0 / self.speedup)
            self._planner.append((move, seconds))
        self._send(b"ok\r\n")

    def _setting(self, line: str) -> None:
        if line == "$$":
            for number, value in sorted(self.settings.items()):
                self._send(f"${number}={value}\r\n".encode())
        elif line == "$X":
            if self.alarm is not None:
                self.alarm = None
                self._send(b"[MSG:Caution: Unlocked]\r\n")
        elif "=" in line and line[1:].split("=")[0].isdigit():
            number, value = line[1:].split("=", 1)
            self.settings[int(number)] = value
        else:
            self._send(b"error:3\r\n")
            return
        self._send(b"ok\r\n")

    def _step(self, now: float) -> None:
        arrived = 0
        if self._wire and now >= self._wire_head:
            arrived = min(len(self._wire), int((now - self._wire_head) / self.byte_time) + 1)
        for _ in range(arrived):
            byte = self._wire.popleft()
            if byte in (0x3F, 0x21, 0x7E, 0x18):
                self._realtime(byte)
                continue
            self.received.append(byte)
            if len(self._rx) < RX_BUFFER_SIZE:
                self._rx.append(byte)
            else:
                self.overflows += 1
            if byte == 0x0A:  # record a line when it has arrived, whenever the planner takes it
                line = self._arriving.decode("ascii", "replace").strip().replace("\r", "")
                self.lines.append(line)
                self.events.append(("line", line))
                self._arriving.clear()
            else:
                self._arriving.append(byte)
        self._wire_head += arrived * self.byte_time
        while b"\n" in self._rx and len(self._planner) < PLANNER_BLOCKS:
            end = self._rx.index(b"\n")
            raw = bytes(self._rx[:end])
            del self._rx[:end + 1]
            self._command(raw.decode("ascii", "replace").strip().replace("\r", ""))
        elapsed, self._last_step = now - self._last_step, now
        while self._planner and not (self._held or self._door_hold) and self.alarm is None and elapsed > 0:
            move, left = self._planner[0]
            if left > elapsed:
                self._planner[0] = (move, left - elapsed)
                break
            elapsed -= left
            self._planner.popleft()

    def _next_deadline(self, now: float) -> float:
        times = [now + 0.05]
        if self._wire:
            times.append(self._wire_head)
        if self._tx:
            times.append(self._tx[0][0])
        if self._planner and not (self._held or self._door_hold):
            times.append(now + self._planner[0][1])
        return min(times)

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self.pty.master_fd
            if fd is None:
                self._stop.wait(0.05)
                continue
            now = time.monotonic()
            with self._lock:
                timeout = max(0.0, self._next_deadline(now) - now)
            try:
                ready, _, _ = select.select([fd], [], [], timeout)
                data = self.pty.read(4096, 0) if ready else b""
            except (OSError, ValueError):
                data = b""
            if ready and not data:  # hung-up or unplugged pty: do not spin on it
                self._stop.wait(0.05)
            now = time.monotonic()
            with self._lock:
                if data:
                    if not self._wire:
                        self._wire_head = max(now, self._wire_free) + self.byte_time
                    self._wire.extend(data)
                    self._wire_free = self._wire_head + (len(self._wire) - 1) * self.byte_time
                self._step(now)
                while self._tx and self._tx[0][0] <= now:
                    out = self._tx.popleft()[1]
                    try:
                        self.pty.write(out)
                    except OSError:
                        pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def close(self) -> None:
        self.stop()
        self.pty.close()

    def __enter__(self) -> GrblSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
