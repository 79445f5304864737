"""A simulated GRBL 1.1 laser controller on a pty, for the demo, the tests and the benchmark.

Both modes share the serial side as the firmware has it: bytes arrive at the configured baud
rate (10 bits a byte) into a 128-byte RX buffer (overflowing bytes are dropped and counted, as
GRBL's serial interrupt drops them), and ``?``, ``!``, ``~`` and 0x18 are picked off the
stream as they arrive. Tests drive the machine with :meth:`GrblSim.trigger_alarm`,
:meth:`GrblSim.fail_line`, :meth:`GrblSim.set_door` and :meth:`GrblSim.unlock`, and read what
it received in :attr:`GrblSim.lines` and :attr:`GrblSim.events`.

``faithful=False`` (the default) is the fast machine: every line is answered ``ok`` as soon as
the 15-block planner has room, motions only keep the state ``Run`` for their length ÷ feed
(÷ ``speedup``), and a locked or held machine still answers G-code.

``faithful=True`` follows GRBL 1.1h's ``protocol.c``, ``gcode.c``, ``report.c`` and
``limits.c``:

* a motion line is acknowledged once its blocks are in the 15-block planner (arcs are cut
  into segments as ``mc_arc`` does); non-motion modal lines at once;
* spindle and coolant changes, an ``S`` change with the spindle on (outside laser motions),
  ``M0``/``M2``/``M30``, ``G4`` (then its dwell), ``G10``, ``G92`` and a coordinate-system
  change wait for the planner to drain (``protocol_buffer_synchronize``) before their ``ok``;
  meanwhile the RX buffer fills and nothing more is planned;
* a feed hold or an open door suspends the main loop: no line is read until ``~`` resumes;
  the hold decelerates at ``$120``/``$121`` (``Hold:1``/``Door:2``) before it is complete;
* ``$32`` defaults to 0 as the firmware's ``DEFAULT_LASER_MODE`` (the fast machine reports 1,
  a laser already configured; ``laser_mode=`` or ``settings=`` choose either way);
* soft limits (``$20=1``, which needs ``$22=1``) check every target against machine space
  ``-$130..0`` (``-$131``, ``-$132``): a violation holds, then raises the critical
  ``ALARM:2``; :meth:`GrblSim.trigger_alarm` with 1 is the critical hard limit. After a
  critical alarm GRBL answers nothing, not even ``?``, until a soft reset (the
  ``do {} while (!EXEC_RESET)`` loop in ``protocol_exec_rt_system``); the line that was being
  executed is then answered ``ok`` (``gc_execute_line`` returns after the abort), the banner
  and ``[MSG:'$H'|'$X' to unlock]`` follow, and G-code gets ``error:9`` until ``$X`` or ``$H``;
* a soft reset while moving (or decelerating into a hold) raises ``ALARM:3``;
* ``homed=True`` (or ``$H`` with ``$22=1``) puts the machine at its home corner,
  ``-$27`` on each axis homing towards positive (``$23`` bit clear), so work offsets
  (``G10 L2``/``L20``, ``G54``…``G59``, ``G92``) decide where a job lands;
* status reports carry ``MPos`` or ``WPos`` (``$10`` bit 0), ``Bf`` (``$10`` bit 1), ``FS``,
  ``Pn``, and ``WCO``/``Ov`` on report.c's refresh counts (WCO every 10 reports idle, 30
  busy; Ov every 10/20; each at once after a change); the position is interpolated along
  the running block;
* ``[MSG:Check Door]`` is printed when the door opens (the ``EXEC_SAFETY_DOOR`` handler),
  also at a reset with the door still open; not while in alarm.

:attr:`GrblSim.acks` records every reply to a line with the planner's state at that moment,
so tests can check ordering with the machine's own bookkeeping rather than the wall clock.
"""

from __future__ import annotations

import math
import re
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from firmware_bridge.gcode_trace import GcodeError, GcodeTracer, Move
from firmware_bridge.grbl import Status, format_status, parse_status
from firmware_bridge.sim.pty import PtyLink
from firmware_bridge.streamer import RX_BUFFER_SIZE

BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
PLANNER_BLOCKS = 15  # BLOCK_BUFFER_SIZE 16, one slot always free in the ring
LINE_BUFFER_SIZE = 80  # a line of 80 characters or more is answered error:11
DEFAULT_SETTINGS = {
    0: "10", 1: "25", 2: "0", 3: "0", 4: "0", 5: "0", 6: "0", 10: "1", 11: "0.010", 12: "0.002",
    13: "0", 20: "0", 21: "0", 22: "0", 23: "0", 24: "25.000", 25: "500.000", 26: "250",
    27: "1.000", 30: "1000", 31: "0", 32: "0", 100: "80.000", 101: "80.000", 102: "250.000",
    110: "3000.000", 111: "3000.000", 112: "500.000", 120: "10.000", 121: "10.000", 122: "10.000",
    130: "300.000", 131: "300.000", 132: "200.000",
}
_INT_SETTINGS = {0, 1, 2, 3, 4, 5, 6, 10, 13, 20, 21, 22, 23, 26, 30, 31, 32}
_REALTIME = (0x3F, 0x21, 0x7E, 0x18)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
_CRITICAL = (1, 2)  # hard and soft limit: GRBL blocks everything but a reset
_SPINDLE_DELAY_S = 4.0  # SAFETY_DOOR_SPINDLE_DELAY, skipped in laser mode
_COOLANT_DELAY_S = 1.0  # SAFETY_DOOR_COOLANT_DELAY
_BUSY = ("Run", "Hold", "Jog", "Door", "Home")

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class Ack:
    """One reply to a line, with the machine's bookkeeping when it was sent."""

    line: str
    reply: str  # "ok" or "error:N"
    at: float  # time.monotonic() when the reply was queued
    blocks_done: int  # planner blocks finished so far
    planner_blocks: int  # blocks still queued
    state: str


@dataclass
class _Block:
    start: Vec
    end: Vec
    seconds: float  # real seconds at this speedup
    feed: float  # mm/min the block runs at
    spindle: float  # S applied while it runs (0 for a laser rapid)
    done: float = 0.0  # seconds run so far

    def position(self) -> Vec:
        f = 0.0 if self.seconds <= 0 else min(1.0, self.done / self.seconds)
        return (self.start[0] + (self.end[0] - self.start[0]) * f,
                self.start[1] + (self.end[1] - self.start[1]) * f,
                self.start[2] + (self.end[2] - self.start[2]) * f)


class _LineError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


Step = tuple[str, object]


class GrblSim:
    """A GRBL 1.1 laser behind ``link``; ``start()`` runs it in a thread."""

    def __init__(self, link: str, *, baudrate: int = 115200, speedup: float = 1.0,
                 min_block_s: float = 0.0005, rapid_mm_min: float = 3000.0, faithful: bool = False,
                 laser_mode: bool | None = None, homed: bool = False,
                 settings: Mapping[int, str | float] | None = None) -> None:
        self.pty = PtyLink(link)
        self.faithful = faithful
        self.byte_time = 10.0 / baudrate
        self.speedup = speedup
        self.min_block_s = min_block_s
        self.rapid_mm_min = rapid_mm_min
        self.settings = dict(DEFAULT_SETTINGS)
        self.settings[110] = self.settings[111] = f"{rapid_mm_min:.3f}"
        # The fast machine stands for the workshop's configured laser, as the callers that
        # never set $32 expect; the faithful one starts from the firmware's defaults.
        self.settings[32] = "1" if (laser_mode if laser_mode is not None else not faithful) else "0"
        for number, value in (settings or {}).items():
            self.settings[number] = _format_setting(number, value)
        self.received = bytearray()  # every byte received that is not a real-time command
        self.lines: list[str] = []  # every line received, in order (G-code and $ commands)
        self.events: list[tuple[str, str]] = []  # ("line", text) and ("rt", "?"/"!"/"~"/"reset")
        # Called with each line as it arrives, before the controller acts on it (on the sim's
        # thread): a test opens a door or pulls a cable at one exact point of a conversation.
        self.when_line: Callable[[str], None] | None = None
        self.acks: list[Ack] = []  # faithful mode: every reply to a line
        self.overflows = 0
        self.resets = 0
        self.alarm: int | None = None
        self.door_open = False
        self.blocks_done = 0
        self._door_hold = False
        self._held = False
        self._lock = threading.RLock()
        self._wire: deque[int] = deque()
        self._wire_head = 0.0  # arrival time of the first byte on the wire
        self._wire_free = 0.0
        self._rx = bytearray()
        self._arriving = bytearray()
        self._planner: deque[tuple[Move, float]] = deque()  # fast mode: (move, seconds left)
        self._tracer = GcodeTracer()
        self._tx: deque[tuple[float, bytes]] = deque()
        self._tx_free = 0.0
        self._failures: dict[int, int] = {}
        self._gcode_count = 0
        self._last_step = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # ---- faithful machine
        self._blocks: deque[_Block] = deque()
        self._state = "Idle"
        self._critical = False
        self._hold_complete = True
        self._decel_left = 0.0  # seconds of deceleration left before a hold is complete
        self._soft_limit = False  # a soft-limit hold ends in ALARM:2, not in Hold
        self._door_ajar = False  # SUSPEND_SAFETY_DOOR_AJAR: cleared once stopped with the door shut
        self._restore_left = 0.0  # Door:3, spindle spinning up again
        self._home_left = 0.0
        self._dwell_left = 0.0
        self._steps: deque[Step] = deque()
        self._current: str | None = None  # the line being executed (out of the RX buffer)
        self._mpos: Vec = (0.0, 0.0, 0.0)  # where the machine is when no block runs
        self._wco_counter = 0
        self._ovr_counter = 0
        self._coords: list[Vec] = [(0.0, 0.0, 0.0)] * 6  # G54..G59, kept like EEPROM over resets
        self._gc_init()
        self.homed = homed
        if homed:
            self._mpos = self._home_position()
        self._gc_pos = self._mpos

    # ------------------------------------------------------------------ test controls

    def start(self) -> None:
        """Power the controller up: banner, then the alarm lock or the door check."""
        self._thread = threading.Thread(target=self._run, name="grbl-sim", daemon=True)
        self._thread.start()
        with self._lock:
            self._send(BANNER)
            if self.faithful:
                # HOMING_INIT_LOCK: with homing enabled, power-up needs $H (or $X) first.
                if self._setting_int(22) & 1 and not self.homed:
                    self._state = "Alarm"
                self._main_loop_start()

    def trigger_alarm(self, code: int) -> None:
        """Raise ``ALARM:code`` as a limit switch would: halt, flush buffers, lock.

        In faithful mode 1 and 2 are critical (silent until a reset); any other code is
        followed by the reset GRBL's ``mc_reset`` makes (banner, then the alarm lock).
        """
        with self._lock:
            if not self.faithful:
                self._flush()
                self.alarm = code
                self._send(f"ALARM:{code}\r\n".encode())
                return
            self._settle(time.monotonic())
            self._kill_motion()
            self._raise_alarm(code)
            if code not in _CRITICAL:
                self._abort()

    def unlock(self) -> None:
        """Clear the alarm as an operator does at the machine (reset if needed, then ``$X``)."""
        with self._lock:
            self.alarm = None
            if self.faithful and self._state == "Alarm":
                self._critical = False
                self._state = "Idle"

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
            if not self.faithful:
                if is_open:
                    self._door_hold = True
                return
            self._settle(time.monotonic())
            if is_open:
                self._safety_door()
            elif self._state == "Door" and self._hold_complete:
                self._door_ajar = False

    @property
    def gcode_lines(self) -> list[str]:
        """Return the G-code lines received (not ``$`` commands, not empty lines)."""
        with self._lock:
            return [line for line in self.lines if line and not line.startswith("$")]

    @property
    def wire_empty(self) -> bool:
        """Every byte sent so far has reached the controller."""
        with self._lock:
            return not self._wire

    @property
    def state(self) -> str:
        """Return the machine state as a status report names it (without substate)."""
        return self.status().state

    @property
    def planner_blocks(self) -> int:
        """Return how many motion blocks are queued (the running one included)."""
        with self._lock:
            return len(self._blocks) if self.faithful else len(self._planner)

    @property
    def planner_empty(self) -> bool:
        """Return whether every queued motion block has run."""
        return self.planner_blocks == 0

    @property
    def waiting_line(self) -> str | None:
        """Return the line GRBL is executing and has not answered yet (faithful mode)."""
        with self._lock:
            return self._current

    @property
    def rx_lines(self) -> int:
        """Return how many complete lines wait in the RX buffer, not yet read by GRBL."""
        with self._lock:
            return self._rx.count(b"\n")

    def queued_seconds(self) -> float:
        """Return the real seconds the queued blocks and a pending dwell still need."""
        with self._lock:
            self._settle(time.monotonic())
            if not self.faithful:
                return sum(left for _, left in self._planner)
            return sum(b.seconds - b.done for b in self._blocks) + self._dwell_left

    @property
    def position(self) -> Vec:
        """Return the machine position (MPos) now, interpolated along the running block."""
        with self._lock:
            self._settle(time.monotonic())
            return self._machine_position()

    def status(self) -> Status:
        """Return the status report ``?`` would get now (without advancing report counters)."""
        with self._lock:
            if not self.faithful:
                return self._status()
            self._settle(time.monotonic())
            return parse_status(self._report(advance=False)[1:-1])

    # ------------------------------------------------------------------ fast machine

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
        if self.faithful:
            self._realtime_faithful(char)
        elif char == "?":
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
            key, text = line[1:].split("=", 1)
            self.settings[int(key)] = text
        else:
            self._send(b"error:3\r\n")
            return
        self._send(b"ok\r\n")

    def _step_fast(self, now: float) -> None:
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
            self.blocks_done += 1

    # ------------------------------------------------------------------ faithful machine: state

    def _setting_float(self, number: int) -> float:
        try:
            return float(self.settings.get(number, "0"))
        except ValueError:
            return 0.0

    def _setting_int(self, number: int) -> int:
        return int(self._setting_float(number))

    @property
    def _laser(self) -> bool:
        return self._setting_int(32) == 1

    def _gc_init(self) -> None:
        """Put the parser in its power-up/reset state (gc_init); G54..G59 survive."""
        self._motion = 0
        self._plane = 17
        self._inches = False
        self._incremental = False
        self._coord_select = 0
        self._offset: Vec = (0.0, 0.0, 0.0)  # G92
        self._feed = 0.0
        self._spindle = 5
        self._speed = 0.0
        self._coolant = 9
        self._gc_pos = self._mpos

    def _home_position(self) -> Vec:
        pulloff, mask = self._setting_float(27), self._setting_int(23)
        return tuple(-self._setting_float(130 + axis) + pulloff if mask & (1 << axis) else -pulloff
                     for axis in range(3))  # type: ignore[return-value]

    def _wco(self) -> Vec:
        system = self._coords[self._coord_select]
        return (system[0] + self._offset[0], system[1] + self._offset[1], system[2] + self._offset[2])

    def _machine_position(self) -> Vec:
        return self._blocks[0].position() if self._blocks else self._mpos

    def _suspended(self) -> bool:
        """Whether GRBL's main loop is blocked (suspend, homing, sleep, critical alarm)."""
        return self._critical or self._state in ("Hold", "Door", "Home", "Sleep")

    def _ack(self, reply: str) -> None:
        self._send(reply.encode() + b"\r\n")
        self.acks.append(Ack(self._current or "", reply, time.monotonic(), self.blocks_done,
                             len(self._blocks), self._state))
        self._current = None
        self._steps.clear()

    def _message(self, text: str) -> None:
        self._send(f"[MSG:{text}]\r\n".encode())

    def _main_loop_start(self) -> None:
        """What protocol_main_loop does first: the alarm lock message, or the door check."""
        if self._state in ("Alarm", "Sleep"):
            self._state = "Alarm"
            self.alarm = self.alarm or 0
            self._message("'$H'|'$X' to unlock")
        else:
            self._state, self.alarm = "Idle", None
            if self.door_open:
                self._safety_door()

    def _kill_motion(self) -> bool:
        """Stop the steppers at once (mc_reset); return whether the position is lost."""
        moving = self._state in ("Run", "Home", "Jog") or self._decel_left > 0
        if self._blocks:
            self._mpos = self._blocks[0].position()
        self._blocks.clear()
        self._decel_left = 0.0
        return moving

    def _raise_alarm(self, code: int) -> None:
        self._state, self.alarm = "Alarm", code
        self._send(f"ALARM:{code}\r\n".encode())
        if code in _CRITICAL:
            self._message("Reset to continue")
            self._critical = True
        self._dwell_left = 0.0

    def _hold(self) -> None:
        """Start a feed hold: decelerate the running block, then stop (Hold:1, then Hold:0)."""
        if self._blocks and self._state in ("Run", "Jog"):
            block = self._blocks[0]
            accel = max(1e-6, min(self._setting_float(120), self._setting_float(121)))
            self._decel_left = block.feed / 60.0 / accel / self.speedup
            self._hold_complete = False
        else:
            self._hold_complete = True

    def _safety_door(self) -> None:
        """Handle EXEC_SAFETY_DOOR: report it, hold, and block resuming while it is ajar."""
        if self._state in ("Alarm", "Check") or self._critical:
            return
        if self._state == "Home":  # limits_go_home aborts the cycle on a door
            self._kill_motion()
            self._raise_alarm(7)
            self._abort()
            return
        self._message("Check Door")
        if self._state in ("Run", "Jog", "Idle"):
            self._hold()
        elif self._state == "Door" and self._restore_left > 0:
            self._restore_left = 0.0
        if self._state != "Sleep":
            self._state = "Door"
        self._door_ajar = True

    def _resume(self) -> None:
        self._hold_complete, self._soft_limit = True, False
        self._state = "Run" if self._blocks else "Idle"

    def _realtime_faithful(self, char: str) -> None:
        now = time.monotonic()
        self._settle(now)
        if char == "reset":
            self._soft_reset()
        elif self._critical:
            return  # the critical-event loop only watches for a reset
        elif char == "?":
            self._send(self._report().encode() + b"\r\n")
        elif char == "!":
            if self._state in ("Run", "Idle"):
                self._hold()
                self._state = "Hold"
        elif char == "~":
            if self._state == "Door" and not self._door_ajar and self._hold_complete and not self.door_open:
                delay = 0.0
                if self._spindle != 5 and not self._laser:
                    delay += _SPINDLE_DELAY_S
                if self._coolant != 9:
                    delay += _COOLANT_DELAY_S
                if delay:
                    self._restore_left = delay / self.speedup
                else:
                    self._resume()
            elif self._state == "Hold" and self._hold_complete:
                self._resume()

    def _soft_reset(self) -> None:
        """0x18: stop (ALARM:3 if moving), then abort."""
        self.resets += 1
        if self._critical:
            self._critical = False
        elif self._kill_motion():
            self._raise_alarm(6 if self._state == "Home" else 3)
        self._abort()

    def _abort(self) -> None:
        """Flush, answer the line cut short, print the banner (main.c's loop)."""
        self._blocks.clear()
        if self._current is not None:
            self._ack("ok")  # gc_execute_line finishes after the abort and reports STATUS_OK
        self._rx.clear()
        self._arriving.clear()
        self._steps.clear()
        self._hold_complete, self._decel_left, self._soft_limit = True, 0.0, False
        self._restore_left = self._home_left = self._dwell_left = 0.0
        self._door_ajar = False
        self._wco_counter = self._ovr_counter = 0
        self._gc_init()
        self._send(BANNER)
        self._main_loop_start()

    def _settle(self, now: float) -> None:
        """Run the machine's clock forward to ``now``: blocks, decelerations, dwell, homing."""
        if not self.faithful:
            return  # the fast machine keeps its own clock in _step_fast
        elapsed, self._last_step = max(0.0, now - self._last_step), now
        if elapsed <= 0:
            return
        if self._state == "Home":
            self._home_left -= elapsed
            if self._home_left <= 0:
                self._home_left = 0.0
                self._mpos = self._gc_pos = self._home_position()
                self._state, self.alarm, self.homed = "Idle", None, True
                self._ack("ok")
            return
        if self._restore_left > 0:
            self._restore_left -= elapsed
            if self._restore_left <= 0:
                self._restore_left = 0.0
                self._resume()
            return
        if self._decel_left > 0:
            # Decelerating at a constant rate covers half the distance full speed would.
            spend = min(elapsed, self._decel_left)
            self._decel_left -= spend
            self._run_blocks(spend / 2, stop_at_block_end=True)
            if self._decel_left <= 0:
                self._decel_left = 0.0
                self._hold_complete = True
                if self._soft_limit:
                    self._soft_limit = False
                    self._kill_motion()
                    self._raise_alarm(2)
                elif self._state == "Door" and not self.door_open:
                    self._door_ajar = False
            return
        if self._state in ("Run", "Jog"):
            self._run_blocks(elapsed)
            if not self._blocks:
                self._state = "Idle"
        elif self._state == "Idle" and self._dwell_left > 0:
            self._dwell_left = max(0.0, self._dwell_left - elapsed)

    def _run_blocks(self, elapsed: float, stop_at_block_end: bool = False) -> None:
        while self._blocks and elapsed > 0:
            block = self._blocks[0]
            left = block.seconds - block.done
            if left > elapsed:
                block.done += elapsed
                return
            elapsed -= left
            self._mpos = block.end
            self._blocks.popleft()
            self.blocks_done += 1
            if stop_at_block_end:
                return

    # ------------------------------------------------------------------ faithful machine: reports

    def _report(self, advance: bool = True) -> str:
        """Build a status report as report_realtime_status does (counters advance per ``?``)."""
        state = self._state
        if self._critical:
            state = "Alarm"
        if state == "Hold":
            state = f"Hold:{0 if self._hold_complete else 1}"
        elif state == "Door":
            sub = 3 if self._restore_left > 0 else 2 if not self._hold_complete else 1 if self._door_ajar else 0
            state = f"Door:{sub}"
        mask = self._setting_int(10)
        wco = self._wco()
        pos = self._machine_position()
        parts = [state]
        if mask & 1:
            parts.append("MPos:" + _axes(pos))
        else:
            parts.append("WPos:" + _axes(tuple(p - w for p, w in zip(pos, wco))))
        if mask & 2:
            parts.append(f"Bf:{PLANNER_BLOCKS - len(self._blocks)},{RX_BUFFER_SIZE - len(self._rx)}")
        running = self._state in ("Run", "Jog") or self._decel_left > 0
        block = self._blocks[0] if self._blocks and running else None
        if block is not None:
            spindle = block.spindle
        elif self._spindle == 3 or (self._spindle == 4 and not self._laser):
            spindle = self._speed
        else:
            spindle = 0.0
        parts.append(f"FS:{block.feed if block else 0:.0f},{spindle:.0f}")
        if self.door_open:
            parts.append("Pn:D")
        wco_counter, ovr_counter = self._wco_counter, self._ovr_counter
        busy = self._state in _BUSY
        if wco_counter > 0:
            wco_counter -= 1
        else:
            wco_counter = (30 if busy else 10) - 1
            if ovr_counter == 0:
                ovr_counter = 1
            parts.append("WCO:" + _axes(wco))
        if ovr_counter > 0:
            ovr_counter -= 1
        else:
            ovr_counter = (20 if busy else 10) - 1
            parts.append("Ov:100,100,100")
            accessories = ("S" if self._spindle == 3 else "C" if self._spindle == 4 else "")
            accessories += "F" if self._coolant == 8 else "M" if self._coolant == 7 else ""
            if accessories:
                parts.append("A:" + accessories)
        if advance:
            self._wco_counter, self._ovr_counter = wco_counter, ovr_counter
        return "<" + "|".join(parts) + ">"

    # ------------------------------------------------------------------ faithful machine: lines

    def _step_faithful(self, now: float) -> None:
        """Read and execute lines while GRBL's main loop is not blocked."""
        while not self._suspended():
            if self._current is not None:
                if not self._advance_line(now):
                    return
                continue
            if b"\n" not in self._rx:
                return
            end = self._rx.index(b"\n")
            raw = bytes(self._rx[:end])
            del self._rx[:end + 1]
            self._execute(raw.decode("ascii", "replace"))

    def _execute(self, raw: str) -> None:
        """Take one line out of the RX buffer and start executing it."""
        line = _clean(raw)
        self._current = line
        if len(line) >= LINE_BUFFER_SIZE:
            self._ack("error:11")
        elif not line:
            self._ack("ok")
        elif line.startswith("$"):
            self._system_command(line)
        else:
            self._gcode_count += 1
            code = self._failures.pop(self._gcode_count, None)
            if self._state in ("Alarm", "Jog"):
                self._ack("error:9")
            elif code is not None:
                self._ack(f"error:{code}")
            else:
                try:
                    steps = self._parse_gcode(line)
                except _LineError as exc:
                    self._ack(f"error:{exc.code}")
                    return
                self._steps = deque(steps)

    def _advance_line(self, now: float) -> bool:
        """Carry out the current line's steps; return False while it has to wait."""
        while self._steps:
            kind, arg = self._steps[0]
            if kind == "sync":
                if self._blocks or self._state in ("Run", "Jog"):
                    return False
            elif kind == "blocked":
                return False  # a soft limit: nothing more until a reset
            elif kind == "dwell":
                assert isinstance(arg, float)
                if self._state == "Check":
                    self._steps.popleft()
                    continue
                self._dwell_left = arg / self.speedup
                self._steps[0] = ("dwelling", None)
                return False
            elif kind == "dwelling":
                if self._dwell_left > 0:
                    return False
            elif kind == "block":
                assert isinstance(arg, _Block)
                if len(self._blocks) >= PLANNER_BLOCKS:
                    return False
                if self._setting_int(20) and _outside(arg.end, self._travel()):
                    self._steps = deque([("blocked", None)])
                    if self._state == "Run":
                        self._hold()
                        self._state, self._soft_limit = "Hold", True
                    else:
                        self._kill_motion()
                        self._raise_alarm(2)
                    return False
                if self._state != "Check" and arg.end != arg.start:
                    self._blocks.append(arg)
                    if self._state == "Idle":
                        self._state = "Run"
            elif kind == "call":
                assert callable(arg)
                arg()
            elif kind == "hold":
                self._steps.popleft()
                self._hold()
                self._state = "Hold"
                return False
            self._steps.popleft()
        if self._current is not None:
            self._ack("ok")
        return True

    def _travel(self) -> Vec:
        return (self._setting_float(130), self._setting_float(131), self._setting_float(132))

    def _parse_gcode(self, line: str) -> list[Step]:
        """Check one block as gc_execute_line does and return the steps that execute it."""
        words = _words(line)
        gs = [v for letter, v in words if letter == "G"]
        ms = [v for letter, v in words if letter == "M"]
        values: dict[str, float] = {}
        for letter, value in words:
            if letter in "GM":
                continue
            if letter not in "FIJKLNPRSTXYZ":
                raise _LineError(20)
            if letter in values:
                raise _LineError(25)
            values[letter] = value
        groups: dict[str, float] = {}
        for g in gs:
            group = _G_GROUPS.get(g)
            if group is None:
                raise _LineError(20)
            if group in groups:
                raise _LineError(21)
            groups[group] = g
        for m in ms:
            group = _M_GROUPS.get(m)
            if group is None:
                raise _LineError(20)
            if group in groups:
                raise _LineError(21)
            groups[group] = m
        for letter in "FNPST":
            if values.get(letter, 0.0) < 0:
                raise _LineError(4)
        if values.get("N", 0) > 9999999:
            raise _LineError(27)
        axes = [values.get(a) for a in "XYZ"]
        has_axes = any(a is not None for a in axes)
        non_modal = groups.get("non_modal")
        inches = {20: True, 21: False}.get(int(groups.get("units", 0)), self._inches)
        scale = 25.4 if inches else 1.0
        motion = int(groups["motion"]) if "motion" in groups else self._motion
        uses_axes = non_modal in (10, 92)
        if uses_axes and "motion" in groups and has_axes:
            raise _LineError(24)
        motion_line = has_axes and not uses_axes and motion != 80
        if has_axes and not uses_axes and motion == 80:
            raise _LineError(31)
        if non_modal == 53 and motion not in (0, 1):
            raise _LineError(30)
        feed = values["F"] * scale if "F" in values else self._feed
        if motion_line and motion in (1, 2, 3) and feed <= 0:
            raise _LineError(22)
        if non_modal == 4 and "P" not in values:
            raise _LineError(28)
        if non_modal == 10:
            if "L" not in values or "P" not in values:
                raise _LineError(28)
            if values["L"] not in (2, 20):
                raise _LineError(20)
            if values["P"] != int(values["P"]) or not 0 <= values["P"] <= 6:
                raise _LineError(29)
        if uses_axes and not has_axes:
            raise _LineError(26)
        if "P" in values and non_modal not in (4, 10):
            raise _LineError(36)
        if "L" in values and non_modal != 10:
            raise _LineError(36)
        arc = motion_line and motion in (2, 3)
        if not arc and any(k in values for k in "IJKR"):
            raise _LineError(36)

        steps: list[Step] = []
        plane = int(groups.get("plane", self._plane))
        incremental = {90: False, 91: True}.get(int(groups.get("distance", 0)), self._incremental)
        coord_select = int(groups["coords"]) - 54 if "coords" in groups else self._coord_select
        speed = values.get("S", self._speed)
        spindle = int(groups.get("spindle", self._spindle))
        coolant = int(groups.get("coolant", self._coolant))
        laser_disable = self._laser and motion not in (1, 2, 3)
        laser_motion = self._laser and motion_line

        def set_modal() -> None:
            self._inches, self._plane, self._feed = inches, plane, feed

        steps.append(("call", set_modal))
        # [4] spindle speed: a new S with the spindle on is synced, except on laser motions.
        force_sync = (self._laser and not motion_line and self._spindle == 3
                      and ((self._motion in (1, 2, 3)) == laser_disable))
        if (speed != self._speed or force_sync) and self._spindle != 5 and not laser_motion:
            steps.append(("sync", None))
        steps.append(("call", lambda: setattr(self, "_speed", speed)))
        # [7] spindle and [8] coolant state changes are always synced, even in laser mode.
        if spindle != self._spindle:
            steps += [("sync", None), ("call", lambda: self._set_spindle(spindle))]
        if coolant != self._coolant:
            steps += [("sync", None), ("call", lambda: self._set_coolant(coolant))]
        if non_modal == 4:
            steps += [("sync", None), ("dwell", values["P"])]
        if coord_select != self._coord_select:
            steps += [("sync", None), ("call", lambda: self._select_coords(coord_select))]
        steps.append(("call", lambda: setattr(self, "_incremental", incremental)))
        if non_modal == 10:
            steps += [("sync", None), ("call", lambda: self._g10(values, axes, scale))]
        elif non_modal == 92:
            steps += [("sync", None), ("call", lambda: self._g92(axes, scale))]
        elif non_modal == 92.1:
            steps += [("sync", None), ("call", lambda: self._set_offset((0.0, 0.0, 0.0)))]
        if "motion" in groups or motion_line:
            steps.append(("call", lambda: setattr(self, "_motion", motion)))
        if motion_line:
            start = self._gc_pos
            target = list(start)
            for axis, word in enumerate(axes):
                if word is None:
                    continue
                if non_modal == 53:
                    target[axis] = word * scale
                elif incremental:
                    target[axis] = start[axis] + word * scale
                else:
                    target[axis] = word * scale + self._coords[coord_select][axis] + self._offset[axis]
            end: Vec = (target[0], target[1], target[2])
            burn = 0.0 if laser_disable or spindle == 5 else speed
            if arc:
                points = self._arc_points(start, end, values, scale, plane, motion == 2)
            else:
                points = [end]
            rate = feed if motion != 0 else math.inf
            previous = start
            for point in points:
                steps.append(("block", self._make_block(previous, point, rate, burn)))
                previous = point
            steps.append(("call", lambda: setattr(self, "_gc_pos", end)))
        program = groups.get("program")
        if program == 0:
            steps += [("sync", None), ("hold", None)]
        elif program in (2, 30):
            steps += [("sync", None), ("call", self._program_end)]
        return steps

    def _make_block(self, start: Vec, end: Vec, feed: float, spindle: float) -> _Block:
        delta = [e - s for s, e in zip(start, end)]
        length = math.sqrt(sum(d * d for d in delta))
        rate = feed
        for axis, d in enumerate(delta):
            if d:  # no axis may exceed its $11x maximum rate (plan_compute_profile_parameters)
                rate = min(rate, self._setting_float(110 + axis) * length / abs(d))
        seconds = max(self.min_block_s, length / rate * 60.0 / self.speedup) if length else 0.0
        return _Block(start, end, seconds, rate, spindle)

    def _arc_points(self, start: Vec, end: Vec, values: dict[str, float], scale: float, plane: int,
                    clockwise: bool) -> list[Vec]:
        a0, a1, linear = {17: (0, 1, 2), 18: (2, 0, 1), 19: (1, 2, 0)}[plane]
        x, y = end[a0] - start[a0], end[a1] - start[a1]
        if "R" in values:
            r = values["R"] * scale
            h2 = 4.0 * r * r - x * x - y * y
            if x == 0 and y == 0:
                raise _LineError(33)
            if h2 < 0:
                raise _LineError(33)
            h = -math.sqrt(h2) / math.hypot(x, y)
            if not clockwise:
                h = -h
            if r < 0:
                h, r = -h, -r
            i, j = 0.5 * (x - y * h), 0.5 * (y + x * h)
        else:
            offsets = {0: "I", 1: "J", 2: "K"}
            if offsets[a0] not in values and offsets[a1] not in values:
                raise _LineError(26)
            i = values.get(offsets[a0], 0.0) * scale
            j = values.get(offsets[a1], 0.0) * scale
            r = math.hypot(i, j)
            if abs(math.hypot(x - i, y - j) - r) > max(0.005, 0.001 * r):
                raise _LineError(33)
        cx, cy = start[a0] + i, start[a1] + j
        r0 = (start[a0] - cx, start[a1] - cy)
        r1 = (end[a0] - cx, end[a1] - cy)
        travel = math.atan2(r0[0] * r1[1] - r0[1] * r1[0], r0[0] * r1[0] + r0[1] * r1[1])
        if clockwise and travel >= -1e-7:
            travel -= 2 * math.pi
        elif not clockwise and travel <= 1e-7:
            travel += 2 * math.pi
        tolerance = self._setting_float(12) or 0.002
        segments = int(abs(0.5 * travel * r) / math.sqrt(max(1e-12, tolerance * (2 * r - tolerance))))
        points: list[Vec] = []
        for n in range(1, segments):
            angle = math.atan2(r0[1], r0[0]) + travel * n / segments
            point = [0.0, 0.0, 0.0]
            point[a0], point[a1] = cx + r * math.cos(angle), cy + r * math.sin(angle)
            point[linear] = start[linear] + (end[linear] - start[linear]) * n / segments
            points.append((point[0], point[1], point[2]))
        points.append(end)
        return points

    def _set_spindle(self, spindle: int) -> None:
        """Switch the spindle (M3/M4/M5); the next report shows the overrides and accessories."""
        self._spindle = spindle
        self._ovr_counter = 0

    def _set_coolant(self, coolant: int) -> None:
        self._coolant = coolant
        self._ovr_counter = 0

    def _select_coords(self, index: int) -> None:
        self._coord_select = index
        self._wco_counter = 0

    def _set_offset(self, offset: Vec) -> None:
        self._offset = offset
        self._wco_counter = 0

    def _g10(self, values: dict[str, float], axes: list[float | None], scale: float) -> None:
        """Write a work coordinate system: L2 as given, L20 so the current position reads ``axes``."""
        index = int(values["P"]) - 1 if values["P"] else self._coord_select
        system = list(self._coords[index])
        for axis, value in enumerate(axes):
            if value is None:
                continue
            if values["L"] == 2:
                system[axis] = value * scale
            else:  # L20: the current position becomes ``value`` in that system
                system[axis] = self._gc_pos[axis] - self._offset[axis] - value * scale
        self._coords[index] = (system[0], system[1], system[2])
        if index == self._coord_select:
            self._wco_counter = 0

    def _g92(self, axes: list[float | None], scale: float) -> None:
        """Shift the work origin so the current position reads ``axes`` (G92)."""
        system = self._coords[self._coord_select]
        offset = list(self._offset)
        for axis, value in enumerate(axes):
            if value is not None:
                offset[axis] = self._gc_pos[axis] - system[axis] - value * scale
        self._set_offset((offset[0], offset[1], offset[2]))

    def _program_end(self) -> None:
        """M2/M30: reset the LinuxCNC subset of modal groups, stop spindle and coolant."""
        self._motion, self._plane, self._incremental = 1, 17, False
        self._coord_select, self._spindle, self._coolant = 0, 5, 9
        self._wco_counter = self._ovr_counter = 0
        self._message("Pgm End")

    def _system_command(self, line: str) -> None:
        """Execute a ``$`` line as system_execute_line does."""
        state = self._state
        if line == "$$":
            if state in ("Run", "Hold"):
                self._ack("error:8")
                return
            for number, value in sorted(self.settings.items()):
                self._send(f"${number}={value}\r\n".encode())
            self._ack("ok")
        elif line == "$G":
            units = "G20" if self._inches else "G21"
            distance = "G91" if self._incremental else "G90"
            coolant = {7: "M7", 8: "M8"}.get(self._coolant, "M9")
            self._send(f"[GC:G{self._motion} G{54 + self._coord_select} G{self._plane} {units} {distance} G94 "
                       f"M{self._spindle} {coolant} T0 F{self._feed:.0f} S{self._speed:.0f}]\r\n".encode())
            self._ack("ok")
        elif line == "$C":
            if state == "Check":
                self._message("Disabled")
                self._ack("ok")
                self._soft_reset()
            elif state == "Idle":
                self._state = "Check"
                self._message("Enabled")
                self._ack("ok")
            else:
                self._ack("error:8")
        elif line == "$X":
            if state == "Alarm":
                if self.door_open:
                    self._ack("error:13")
                    return
                self._message("Caution: Unlocked")
                self._state, self.alarm = "Idle", None
            self._ack("ok")
        elif state not in ("Idle", "Alarm"):
            self._ack("error:8")
        elif line == "$#":
            for index, system in enumerate(self._coords):
                self._send(f"[G{54 + index}:{_axes(system)}]\r\n".encode())
            self._send(f"[G28:0.000,0.000,0.000]\r\n[G30:0.000,0.000,0.000]\r\n"
                       f"[G92:{_axes(self._offset)}]\r\n[TLO:0.000]\r\n[PRB:0.000,0.000,0.000:0]\r\n".encode())
            self._ack("ok")
        elif line == "$I":
            self._send(b"[VER:1.1h.20190830:]\r\n[OPT:V,15,128]\r\n")
            self._ack("ok")
        elif line == "$H":
            if not self._setting_int(22) & 1:
                self._ack("error:5")
            elif self.door_open:
                self._ack("error:13")
            else:
                home = self._home_position()
                span = max(abs(h - p) for h, p in zip(home, self._mpos)) + 2 * self._setting_float(27)
                seek = max(1.0, self._setting_float(25))
                self._home_left = max(self.min_block_s, span / seek * 60.0 / self.speedup)
                self._state = "Home"  # answered ok when the cycle ends (see _settle)
        elif line == "$SLP":
            self._ack("ok")
            self._spindle, self._coolant = 5, 9
            self._state = "Sleep"
            self._message("Sleeping")
        elif "=" in line and line[1:].split("=")[0].isdigit():
            number_text, value = line[1:].split("=", 1)
            number = int(number_text)
            try:
                parsed = float(value)
            except ValueError:
                self._ack("error:2")
                return
            if number not in self.settings:
                self._ack("error:3")
            elif parsed < 0:
                self._ack("error:4")
            elif number == 20 and parsed and not self._setting_int(22) & 1:
                self._ack("error:10")
            else:
                self.settings[number] = _format_setting(number, parsed)
                if number == 10:
                    self._wco_counter = 0
                self._ack("ok")
        else:
            self._ack("error:3")

    # ------------------------------------------------------------------ the serial side

    def _step(self, now: float) -> None:
        if self.faithful:
            self._settle(now)
        arrived = 0
        if self._wire and now >= self._wire_head:
            arrived = min(len(self._wire), int((now - self._wire_head) / self.byte_time) + 1)
        for _ in range(arrived):
            byte = self._wire.popleft()
            if byte in _REALTIME:
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
                if self.when_line is not None:
                    self.when_line(line)
            else:
                self._arriving.append(byte)
        self._wire_head += arrived * self.byte_time
        if self.faithful:
            self._step_faithful(now)
        else:
            self._step_fast(now)

    def _next_deadline(self, now: float) -> float:
        times = [now + 0.05]
        if self._wire:
            times.append(self._wire_head)
        if self._tx:
            times.append(self._tx[0][0])
        if self.faithful:
            if self._state in ("Run", "Jog") and self._blocks and not self._decel_left:
                times.append(now + self._blocks[0].seconds - self._blocks[0].done)
            for left in (self._decel_left, self._dwell_left, self._home_left, self._restore_left):
                if left > 0:
                    times.append(now + left)
        elif self._planner and not (self._held or self._door_hold):
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
        """Stop the controller's thread."""
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def close(self) -> None:
        """Stop and unplug the simulated cable."""
        self.stop()
        self.pty.close()

    def __enter__(self) -> GrblSim:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# Modal groups of the G- and M-codes the faithful machine takes (gcode.c's first pass).
_G_GROUPS: dict[float, str] = {
    0: "motion", 1: "motion", 2: "motion", 3: "motion", 80: "motion",
    4: "non_modal", 10: "non_modal", 53: "non_modal", 92: "non_modal", 92.1: "non_modal",
    17: "plane", 18: "plane", 19: "plane", 90: "distance", 91: "distance", 91.1: "arc_distance",
    94: "feed_mode", 20: "units", 21: "units", 40: "cutter", 49: "tool_length", 61: "control",
    54: "coords", 55: "coords", 56: "coords", 57: "coords", 58: "coords", 59: "coords",
}
_M_GROUPS: dict[float, str] = {0: "program", 1: "program", 2: "program", 30: "program",
                               3: "spindle", 4: "spindle", 5: "spindle",
                               7: "coolant", 8: "coolant", 9: "coolant"}


def _clean(raw: str) -> str:
    """Drop spaces, control characters and comments and upper-case, as protocol_main_loop does."""
    out: list[str] = []
    comment = False
    for char in raw:
        if comment:
            if char == ")":
                comment = False
            continue
        if char == "(":
            comment = True
        elif char == ";":
            break
        elif char > " " and char != "/":
            out.append(char.upper())
    return "".join(out)


def _words(line: str) -> list[tuple[str, float]]:
    """Split a cleaned block into (letter, value) words; raise _LineError as GRBL would."""
    words: list[tuple[str, float]] = []
    index = 0
    while index < len(line):
        letter = line[index]
        if not "A" <= letter <= "Z":
            raise _LineError(1)
        match = _NUMBER.match(line, index + 1)
        if match is None:
            raise _LineError(2)
        words.append((letter, round(float(match.group()), 4) if letter in "GM" else float(match.group())))
        index = match.end()
    return words


def _outside(target: Vec, travel: Vec) -> bool:
    """Whether ``target`` leaves machine space -travel..0 (system_check_travel_limits)."""
    return any(t > 0 or t < -limit for t, limit in zip(target, travel))


def _axes(values: Vec | tuple[float, ...]) -> str:
    """Format axis values as report_util_axis_values does."""
    return ",".join(f"{v:.3f}" for v in values)


def _format_setting(number: int, value: str | float) -> str:
    """Render a setting as ``$$`` prints it (integers bare, the rest with 3 decimals)."""
    number_value = float(value)
    if number in _INT_SETTINGS:
        return str(int(number_value))
    if number in (30, 31):
        return f"{number_value:.0f}"
    return f"{number_value:.3f}"


__all__ = ["Ack", "BANNER", "DEFAULT_SETTINGS", "GrblSim", "PLANNER_BLOCKS"]
