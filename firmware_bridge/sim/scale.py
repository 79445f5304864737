"""A simulated bench balance on a pty: MT-SICS, A&D or Ohaus, answering as the family does.

A load placed on the pan reads unstable for ``settle_s`` (divided by ``speed``), creeping
towards its weight, then stable; ``drift_g_per_s`` adds a slow drift (a draught, a warming
room); ``vibrating`` keeps every reading unstable (a draught, a bench shaken by a polishing
motor); more than ``capacity_g`` on the pan is an overload, a pan lifted far below zero an
underload. Tare and zero work only on a stable reading, as on the real balances (refused
otherwise with the family's answer). ``unplug``/``replug`` pull and put back the cable.
With ``seven_e_one`` the balance sends 7 data bits with even parity, as a port opened 8N1
receives them (bit 7 carries the parity bit).
"""

from __future__ import annotations

import math
import threading
import time

from firmware_bridge.scales import GRAMS_PER_UNIT, ScaleLineFramer, even_parity, protocol_for
from firmware_bridge.sim.pty import PtyLink


class BalanceSim:
    """A bench balance of one family (``mt-sics``, ``and``, ``ohaus``) behind a pty link."""

    def __init__(self, link: str, kind: str = "mt-sics", *, speed: float = 1.0, settle_s: float = 1.5,
                 capacity_g: float = 220.0, decimals: int = 3, unit: str = "g", drift_g_per_s: float = 0.0,
                 stream_hz: float = 10.0, seven_e_one: bool = False) -> None:
        self.protocol = protocol_for(kind)
        self.kind = kind
        self.pty = PtyLink(link)
        self.speed = speed
        self.settle_s = settle_s
        self.capacity_g = capacity_g
        self.decimals = decimals
        self.unit = unit
        self.drift_g_per_s = drift_g_per_s
        self.stream_hz = stream_hz
        self.seven_e_one = seven_e_one
        self.vibrating = False
        self.requests: list[str] = []  # every command line received, in order
        self.polls = 0
        self.tares = 0
        self.zeros = 0
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._load_g = 0.0
        self._from_g = 0.0
        self._placed_at = -math.inf
        self._zero_g = 0.0
        self._tare_g = 0.0
        self._streaming = False
        self._waiting_stable = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the pan

    def _elapsed(self, since: float) -> float:
        return (time.monotonic() - since) * self.speed

    def place(self, grams: float) -> None:
        """Put ``grams`` on the pan in all (0 empties it); it reads unstable, then settles."""
        with self._lock:
            self._from_g = self._shown_load()
            self._load_g = grams
            self._placed_at = time.monotonic()

    @property
    def stable(self) -> bool:
        with self._lock:
            return self._settled()

    def _settled(self) -> bool:
        return not self.vibrating and self._elapsed(self._placed_at) >= self.settle_s

    def _shown_load(self) -> float:
        """The load the balance reads now: creeping from the last load to the new one."""
        if self._elapsed(self._placed_at) >= self.settle_s:
            shown = self._load_g
        else:
            progress = self._elapsed(self._placed_at) / self.settle_s
            shown = self._load_g + (self._from_g - self._load_g) * math.exp(-4 * progress)
        if self.vibrating:
            shown += 0.004 * math.sin(time.monotonic() * 37.0)  # a few digits either way
        return shown + self.drift_g_per_s * self._elapsed(self._t0)

    def reading(self) -> bytes:
        """Return the weight line the balance would send now."""
        with self._lock:
            gross = self._shown_load() - self._zero_g
            stable = self._settled()
            if gross > self.capacity_g:
                fault: str | None = "overload"
            elif gross < -0.1 * self.capacity_g:
                fault = "underload"
            else:
                fault = None
            net = gross - self._tare_g
        if fault and self.kind == "ohaus":
            return b""  # an Ohaus balance shows the overload on its display and prints nothing
        value = round(net / GRAMS_PER_UNIT[self.unit], self.decimals)
        return self.protocol.format_weight(value, self.unit, self.decimals, stable=stable, fault=fault)

    # ------------------------------------------------------------------ the cable

    def send(self, line: bytes) -> None:
        if line:
            self.pty.write(even_parity(line) if self.seven_e_one else line)

    def handle_request(self, line: bytes) -> None:
        """Answer one command line as the family does."""
        text = line.decode("ascii", "replace").strip()
        self.requests.append(text)
        meaning = self.protocol.requests.get(text.encode("ascii", "replace"))
        if meaning == "weigh":
            self.polls += 1
            self.send(self.reading())
        elif meaning == "stable":
            self._waiting_stable = True
        elif meaning == "repeat":
            self._streaming = True
        elif meaning == "cancel":
            self._streaming = self._waiting_stable = False
        elif meaning in ("tare", "zero"):
            self.send(self._tare_or_zero(meaning))
        else:
            self.send(self.protocol.format_refusal())

    def _tare_or_zero(self, action: str) -> bytes:
        with self._lock:
            if not self._settled():
                return bytes(self.protocol.format_reply(action, False))
            if action == "tare":
                self._tare_g = self._shown_load() - self._zero_g
                self.tares += 1
                return bytes(self.protocol.format_reply(action, True, tare_g=self._tare_g))
            self._zero_g, self._tare_g = self._shown_load(), 0.0
            self.zeros += 1
            return bytes(self.protocol.format_reply(action, True))

    def start(self) -> None:
        """Answer commands in the background until ``stop``; survives unplug/replug."""
        self._thread = threading.Thread(target=self._run, name=f"balance-sim-{self.kind}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        framer = ScaleLineFramer()
        next_stream = time.monotonic()
        while not self._stop.is_set():
            if not self.pty.plugged:
                framer = ScaleLineFramer()
                self._stop.wait(0.05)
                continue
            try:
                for line in framer.feed(self.pty.read(timeout=0.02)):
                    self.handle_request(line)
                if self._waiting_stable and self.stable:
                    self._waiting_stable = False
                    self.send(self.reading())
                if self._streaming and time.monotonic() >= next_stream:
                    next_stream = time.monotonic() + 1.0 / (self.stream_hz * self.speed)
                    self.send(self.reading())
            except OSError:
                pass  # unplugged while answering: the next round waits for the replug

    def unplug(self) -> None:
        self.pty.unplug()

    def replug(self) -> None:
        self.pty.replug()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def close(self) -> None:
        self.stop()
        self.pty.close()

    def __repr__(self) -> str:
        return f"<BalanceSim {self.kind} {self.pty.link} load={self._load_g:g} g>"
