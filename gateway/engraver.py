"""A GRBL laser engraver: runs journaled jobs one at a time, never twice, never door open.

Wiring: the laser's controller on a serial port (``port``, a udev name); the enclosure's door
switch on ``door_pin`` (:class:`~gateway.laser_door.LaserDoor`).

The :class:`Engraver` is a supervised device and a small machine of :class:`Phase` steps.
Each ``poll`` reads replies, asks ``?`` every ``status_interval_s`` and moves the current job
one step: pre-fire checks (door closed, GRBL ``Idle``, ``$32=1``, the material's power within
``$30``, the job's box within the machine's travel or soft limits), ``running`` committed to
the journal (which also claims the serial's one firing), character-counted streaming,
``done`` once the machine is idle again; then the next job. An ``error:N`` ends the job
``failed``; the door (at the Pi or at the controller), an alarm, a controller reset or a lost
link end it ``interrupted``. Either way the laser is stopped (feed hold, then soft reset,
unless an alarm already halted it) and the job is never resumed: an operator retries or
cancels.

GRBL answers a motion line ``ok`` once it is planned, and ``M5``/``M2`` only once every
planned block has run, so the tail of a job can burn for many seconds with no ``ok``: while
a job runs, the link is alive as long as status reports show the machine moving (position
changing, or the planner draining: ``Bf:`` rising). Only a link that answers nothing, or a
machine that stops moving with lines unanswered, is stalled.

After an alarm the laser stays locked until a person asks for an unlock (``benchpin
engraver unlock`` or the MQTT command), which the engraver carries out with ``$X`` unless
the door is open. A critical alarm (hard or soft limit) is followed by a soft reset at once:
GRBL answers nothing until one, and the reset keeps the alarm lock.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

import serial

from benchpin.config import EngraverConfig
from firmware_bridge.gcode import program_extent
from firmware_bridge.grbl import (REALTIME_HOLD, REALTIME_RESET, REALTIME_STATUS, Alarm, Error, Message, Ok,
                                  Reply, Setting, Status, Welcome)
from firmware_bridge.grbl_fit import fit_problems, needs_work_offset
from firmware_bridge.streamer import Streamer
from gateway.engraver_jobs import JobDesk
from gateway.grbl_link import GrblLink
from gateway.job_journal import Decision, Job, JobJournal
from gateway.laser_door import LaserDoor
from gateway.supervisor import DeviceFailure, Stalled

log = logging.getLogger(__name__)

CRITICAL_ALARMS = (1, 2)  # hard and soft limit: GRBL answers nothing until a soft reset
MOVING_STATES = ("Run", "Hold", "Jog")
PROGRESS_INTERVAL_S = 1.0
DOOR_AT_PI = "the door was opened mid-job: feed hold sent, job not resumed"
DOOR_AT_LASER = "the door was opened at the laser (GRBL reports Door): job stopped, not resumed"


class Phase(Enum):
    """What the engraver is doing with the laser."""

    IDLE = "idle"  # no job firing: waiting for one, or for the laser to be Idle
    CHECKING = "checking"  # $$ asked: the pre-fire checks wait for the settings
    STREAMING = "streaming"  # the job's lines going out, character-counted
    FINISHING = "finishing"  # every line answered: waiting for the machine to be Idle
    STOPPING = "stopping"  # a job cut short: feed hold sent, a soft reset follows
    UNLOCKING = "unlocking"  # $X sent on an operator's request: waiting for its answer


ACTIVE = (Phase.STREAMING, Phase.FINISHING)

# Every move the machine may make; anything may also go back to IDLE (reset, reopen, close).
_TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.CHECKING, Phase.UNLOCKING}),
    Phase.CHECKING: frozenset({Phase.STREAMING}),
    Phase.STREAMING: frozenset({Phase.FINISHING, Phase.STOPPING}),
    Phase.FINISHING: frozenset({Phase.STOPPING}),
    Phase.STOPPING: frozenset(),
    Phase.UNLOCKING: frozenset(),
}


@dataclass
class EngraverCounters:
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_interrupted: int = 0
    jobs_rejected: int = 0
    holds_sent: int = 0
    bad_replies: int = 0
    unlocks: int = 0


def _numbers(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        return None


class Engraver:
    """One GRBL 1.1 laser and its door, driven through the job journal."""

    def __init__(self, config: EngraverConfig, desk: JobDesk, journal: JobJournal, *,
                 pin_factory: Any = None, serial_factory: Callable[..., serial.Serial] = serial.Serial) -> None:
        self.config = config
        self.name = f"engraver {config.id}"
        self.desk = desk
        self.journal = journal
        self.pin_factory = pin_factory
        self.link = GrblLink(config.port, config.baudrate, serial_factory=serial_factory)
        self.counters = EngraverCounters()
        self.phase = Phase.IDLE
        self.job: Job | None = None
        self.streamer: Streamer | None = None
        self.status: Status | None = None
        self.wco: tuple[float, ...] | None = None  # work offset, from the last status report with WCO
        self._status_at = 0.0
        self._phase_at = 0.0
        self._job_at = 0.0
        self._alive_at = 0.0  # last sign the laser is working: an ok, or a report of motion
        self._started_at = 0.0
        self._progress_at = 0.0
        self._heard_at = 0.0
        self._reset_at: float | None = None
        self._door_reset_at = 0.0
        self._planner_free: int | None = None  # Bf: blocks free in the planner, from the last report
        self._settings: dict[int, str] = {}
        self._settings_ok = False
        self._next_status = 0.0
        self._next_queue_check = 0.0
        self._waiting_logged = ""
        self._published: str | None = None
        self._unlock: Decision | None = None
        self._door: LaserDoor | None = None
        self._door_open = threading.Event()
        self._door_at_laser = False
        self._wake = threading.Event()
        self._steps: dict[Phase, Callable[[float], None]] = {
            Phase.IDLE: self._step_idle, Phase.CHECKING: self._step_checking,
            Phase.STREAMING: self._step_streaming, Phase.FINISHING: self._step_finishing,
            Phase.STOPPING: self._step_stopping, Phase.UNLOCKING: self._step_unlocking,
        }
        desk.when_queued = self._wake.set
        if config.door_pin is None:
            log.warning("engraver %s has no door_pin: firing is not interlocked with the door", config.id)

    # ------------------------------------------------------------------ phases

    def _enter(self, phase: Phase, now: float) -> None:
        """Move to ``phase``; every transition of the machine goes through here."""
        if phase is not Phase.IDLE and phase not in _TRANSITIONS[self.phase]:
            raise AssertionError(f"engraver {self.config.id}: no transition {self.phase.value} -> {phase.value}")
        log.debug("engraver %s: %s -> %s", self.config.id, self.phase.value, phase.value)
        self.phase, self._phase_at = phase, now
        if phase is Phase.IDLE:
            self._wake.set()  # the next queued job, or a waiting request, may go

    # ------------------------------------------------------------------ device

    def open(self) -> None:
        self.link.open()
        self._open_door()
        self.link.realtime(REALTIME_RESET)  # a known state: nothing left running from before
        deadline = time.monotonic() + 3.0
        while not any(isinstance(r, Welcome) for r in self.link.read_replies()):
            if time.monotonic() > deadline:
                raise DeviceFailure(f"no GRBL banner from {self.config.port} after a soft reset")
        now = time.monotonic()
        self._enter(Phase.IDLE, now)
        self.status, self.wco, self._published, self._planner_free = None, None, None, None
        self._next_status = 0.0
        self._heard_at = now
        self._door_reset_at = 0.0

    def _open_door(self) -> None:
        if self.config.door_pin is None or self._door is not None:
            return
        self._door = LaserDoor(self.config.door_pin, pin_factory=self.pin_factory,
                               when_opened=self._door_opened, when_closed=self._door_closed)
        if self._door.is_open:
            self._door_open.set()
        else:
            self._door_open.clear()

    def door_is_open(self) -> bool:
        """Whether the door switch at the Pi reads open."""
        return self._door_open.is_set()

    def _door_opened(self) -> None:
        """Hold at once if a job is firing; the poll loop then ends the job (gpiozero's thread)."""
        self._door_open.set()
        if self.phase in ACTIVE and self.link.is_open:
            try:
                self.link.realtime(REALTIME_HOLD)
                self.counters.holds_sent += 1
            except DeviceFailure as exc:
                log.error("engraver %s: door opened but the feed hold could not be sent: %s", self.config.id, exc)
        log.warning("engraver %s: door opened%s", self.config.id, " mid-job: feed hold sent" if self.phase in ACTIVE else "")

    def _door_closed(self) -> None:
        self._door_open.clear()
        log.info("engraver %s: door closed (nothing resumes by itself)", self.config.id)

    def poll(self) -> None:
        replies = self.link.read_replies()
        now = time.monotonic()
        if replies:
            self._heard_at = now
        elif now - self._heard_at > self.config.reply_timeout_s:
            # "?" goes out every status interval, so silence this long means a dead link.
            raise Stalled(f"no reply from the laser on {self.config.port} for {self.config.reply_timeout_s:g}s")
        for reply in replies:
            self.handle_reply(reply, now)
        self.counters.bad_replies = self.link.bad_replies
        if now >= self._next_status:
            self.link.realtime(REALTIME_STATUS)
            self._next_status = now + self.config.status_interval_s
        self._steps[self.phase](now)
        self._publish_machine_state()

    def close(self) -> None:
        if self.phase in ACTIVE and self.job is not None:
            try:  # stop the beam if the port still answers
                self.link.realtime(REALTIME_HOLD)
                self.link.realtime(REALTIME_RESET)
            except DeviceFailure:
                pass
            self._end_job("interrupted", "the serial link to the laser failed or the gateway stopped mid-job; "
                          "not resumed: an operator retries or cancels")
        if self._unlock is not None:
            self.journal.settle(self._unlock.id, "not done: the link to the laser was lost; ask again")
            self._unlock = None
        self._enter(Phase.IDLE, time.monotonic())
        self.job, self.streamer = None, None
        self.link.close()

    def shutdown(self) -> None:
        """Release the door input for good (the gateway is stopping); idempotent."""
        if self._door is not None:
            door, self._door = self._door, None
            door.close()

    # ------------------------------------------------------------------ replies

    def handle_reply(self, reply: Reply, now: float) -> None:
        if isinstance(reply, Status):
            self._on_status(reply, now)
        elif isinstance(reply, Setting):
            self._settings[reply.number] = reply.value
        elif isinstance(reply, (Ok, Error)):
            self._alive_at = now
            if self.phase in ACTIVE and self.streamer is not None:
                self.streamer.handle_reply(reply)
            elif self.phase is Phase.CHECKING:
                # The ok closing the $$ listing comes after the settings; an ok before them is stray.
                self._settings_ok = isinstance(reply, Ok) and bool(self._settings)
                if isinstance(reply, Error):
                    self._back_to_idle(f"settings query refused: {reply.describe()}", now)
            elif self.phase is Phase.UNLOCKING:
                self._unlocked(reply, now)
        elif isinstance(reply, Alarm):
            self._on_alarm(reply, now)
        elif isinstance(reply, Welcome):
            self.wco, self._planner_free = None, None  # G92 is gone; the next report carries WCO again
            if self.phase in ACTIVE:
                self._end_job("interrupted", "the laser controller was reset mid-job; not resumed")
            if self.phase is Phase.UNLOCKING:
                self._unlocked(None, now)
            if self.phase is not Phase.IDLE:
                self._back_to_idle("controller reset", now)
        elif isinstance(reply, Message):
            log.info("engraver %s says: %s", self.config.id, reply.text)
            if reply.text == "Check Door" and self.phase in ACTIVE:
                self._door_at_laser = True

    def _on_status(self, status: Status, now: float) -> None:
        previous = self.status
        wco = _numbers(status.fields.get("WCO"))
        if wco is not None:
            self.wco = wco
        buffers = _numbers(status.fields.get("Bf"))
        planner_free = int(buffers[0]) if buffers else None
        if self.phase in ACTIVE:
            position = status.mpos or status.wpos
            moved = previous is not None and position is not None and position != (previous.mpos or previous.wpos)
            draining = (planner_free is not None and self._planner_free is not None
                        and planner_free > self._planner_free)
            if status.state in MOVING_STATES and (moved or draining):
                self._alive_at = now
            if status.state == "Door":
                self._door_at_laser = True
        self._planner_free = planner_free
        self.status, self._status_at = status, now

    def _on_alarm(self, alarm: Alarm, now: float) -> None:
        log.error("engraver %s: %s", self.config.id, alarm.describe())
        self.status, self._status_at = Status("Alarm"), now
        if self.phase in ACTIVE:  # an alarm cuts a job short like a reset: interrupted, not resumed
            self._end_job("interrupted", f"{alarm.describe()}; the laser waits for an operator's unlock")
            self._enter(Phase.IDLE, now)  # GRBL has halted and flushed its buffers itself
        elif self.phase is Phase.CHECKING:
            self._back_to_idle("alarm during the pre-fire check", now)
        elif self.phase is Phase.UNLOCKING:
            self._unlocked(None, now)
        if alarm.code in CRITICAL_ALARMS:
            # GRBL now answers nothing, not even "?", until a soft reset; the reset keeps the lock.
            log.warning("engraver %s: critical alarm: soft reset so the laser answers again (still locked)",
                        self.config.id)
            self.link.realtime(REALTIME_RESET)

    # ------------------------------------------------------------------ job steps

    def _clear_door_hold(self, now: float) -> None:
        """Bring GRBL back to Idle once its door is shut while no job runs.

        GRBL 1.1 stays in ``Door:0`` after the door closes, waiting for a cycle start. Jobs are
        never resumed, so the hold is flushed with a soft reset — never ``~``, which would restart
        a held motion.
        """
        status = self.status
        if (status is None or status.state != "Door" or status.substate != 0 or self._door_open.is_set()
                or self._status_at <= self._door_reset_at):
            return
        log.info("engraver %s: door shut with no job running: soft reset to leave GRBL's door hold",
                 self.config.id)
        self.link.realtime(REALTIME_RESET)
        self._door_reset_at = now

    def _step_idle(self, now: float) -> None:
        self._clear_door_hold(now)
        if self._wake.is_set() or now >= self._next_queue_check:
            self._wake.clear()
            self._next_queue_check = now + 1.0
            if self._start_unlock(now):
                return
            if self.job is None:
                self.job = self.journal.next_queued(self.config.id)
                self._job_at = now
        if self.job is None:
            return
        if self._door_open.is_set():
            self._reject("the door is open: close it, then retry the job", now)
            return
        if self.status is None or self._status_at <= self._job_at:
            return  # a status report newer than the job is needed
        if self.status.state != "Idle":
            self._log_waiting(f"waiting for the laser to be Idle (it is {self.status.state}"
                              f"{': an operator unlocks it' if self.status.state == 'Alarm' else ''})")
            return
        self._settings, self._settings_ok = {}, False
        self.link.write(b"$$\n")
        self._enter(Phase.CHECKING, now)

    def _step_checking(self, now: float) -> None:
        job = self.job
        assert job is not None
        if not self._settings_ok:
            if now - self._phase_at > self.config.reply_timeout_s:
                raise Stalled(f"no answer to $$ from {self.config.port} for {self.config.reply_timeout_s:g}s")
            return
        if self._settings.get(32) != "1":
            self._reject(f"laser mode is off ($32={self._settings.get(32, 'unknown')}): set $32=1 on the controller",
                         now)
            return
        if self.wco is None and needs_work_offset(self._settings) \
                and now - self._phase_at <= self.config.reply_timeout_s:
            return  # GRBL sends WCO at least every 10th report: wait for one
        problems = fit_problems(self._settings, program_extent(job.program), self.wco)
        if problems:
            self._reject("; ".join(problems), now)
            return
        if self._door_open.is_set():
            self._reject("the door is open: close it, then retry the job", now)
            return
        started = self.journal.start(job.job_id, f"attempt on {self.config.id}")
        if started.state is None:
            log.info("engraver %s: job %s was changed before firing; skipped", self.config.id, job.job_id)
            self.job = None
            self._enter(Phase.IDLE, now)
            return
        if started.state == "rejected":
            self.counters.jobs_rejected += 1
            log.warning("engraver %s: job %s rejected: %s", self.config.id, job.job_id, started.detail)
            self.desk.publish(job)
            self.job = None
            self._enter(Phase.IDLE, now)
            return
        self._waiting_logged = ""
        self._door_at_laser = False
        log.info("engraver %s: firing job %s (%d lines)", self.config.id, job.job_id, len(job.program))
        self.streamer = Streamer(job.program)
        self.desk.publish(job, progress=0.0)
        self._started_at = self._progress_at = self._alive_at = now
        self._enter(Phase.STREAMING, now)

    def _door_problem(self) -> str | None:
        if self._door_open.is_set():
            return DOOR_AT_PI
        if self._door_at_laser:
            return DOOR_AT_LASER
        return None

    def _check_alive(self, now: float) -> None:
        if now - self._alive_at > self.config.reply_timeout_s:
            raise Stalled(f"no ok and no motion in the laser's status reports for {self.config.reply_timeout_s:g}s "
                          f"mid-job (it reports {self.status.state if self.status else 'nothing'})")

    def _step_streaming(self, now: float) -> None:
        streamer = self.streamer
        assert streamer is not None
        door = self._door_problem()
        if door:
            self._interrupt(door, now)
        elif streamer.failure is not None:
            self._end_job("failed", streamer.failure.describe())
            self._stop(now)
        elif streamer.finished:
            self._enter(Phase.FINISHING, now)
            self._next_status = now  # ask at once whether the last moves are done
        else:
            lines = streamer.take()
            if lines and not self.link.write(b"".join(lines), allowed=lambda: not self._door_open.is_set()):
                self._interrupt(DOOR_AT_PI, now)
                return
            if streamer.in_flight:
                self._check_alive(now)
            self._publish_progress(streamer, now)

    def _step_finishing(self, now: float) -> None:
        door = self._door_problem()
        if door:
            self._interrupt(door, now)
        elif self.status is not None and self._status_at > self._phase_at and self.status.state == "Idle":
            self._end_job("done", "")
            self._enter(Phase.IDLE, now)
        else:
            self._check_alive(now)

    def _step_stopping(self, now: float) -> None:
        if self._reset_at is None:
            status = self.status if self._status_at > self._phase_at else None
            settled = status is not None and (status.state in ("Idle", "Alarm") or (status.state, status.substate)
                                              in (("Hold", 0), ("Door", 0), ("Door", 1)))
            if settled or now - self._phase_at > 2.0:
                self.link.realtime(REALTIME_RESET)  # flush what GRBL still holds of the stopped job
                self._reset_at = now
        elif now - self._reset_at > 3.0:
            raise DeviceFailure(f"no GRBL banner from {self.config.port} after a soft reset")

    # ------------------------------------------------------------------ unlock

    def _start_unlock(self, now: float) -> bool:
        """Act on an operator's unlock request, if any; return True once ``$X`` is sent."""
        request = self.journal.pending_unlock(self.config.id)
        if request is None:
            return False
        who = request.operator or "an operator"
        state = self.status.state if self.status is not None else "unknown"
        if self._door_open.is_set() or state == "Door":
            outcome = "refused: the door is open; close it, then ask again"
        elif state != "Alarm":
            outcome = f"nothing to unlock: the laser is {state}"
        else:
            log.warning("engraver %s: unlock asked by %s: sending $X", self.config.id, who)
            self._unlock = request
            self.link.write(b"$X\n")
            self._enter(Phase.UNLOCKING, now)
            return True
        log.warning("engraver %s: unlock asked by %s: %s", self.config.id, who, outcome)
        self.journal.settle(request.id, outcome)
        return False

    def _unlocked(self, reply: Ok | Error | None, now: float) -> None:
        request, self._unlock = self._unlock, None
        if request is not None:
            if isinstance(reply, Ok):
                self.counters.unlocks += 1
                outcome = f"unlocked by {request.operator or 'an operator'}"
            elif isinstance(reply, Error):
                outcome = f"refused by the laser: {reply.describe()}"
            else:
                outcome = "not done: the laser raised an alarm or was reset meanwhile; ask again"
            log.warning("engraver %s: %s", self.config.id, outcome)
            self.journal.settle(request.id, outcome)
        self._next_status = now  # a fresh state before any job goes
        self._job_at = now
        self._enter(Phase.IDLE, now)

    def _step_unlocking(self, now: float) -> None:
        if now - self._phase_at > self.config.reply_timeout_s:
            raise Stalled(f"no answer to $X from {self.config.port} for {self.config.reply_timeout_s:g}s")

    # ------------------------------------------------------------------ helpers

    def _publish_progress(self, streamer: Streamer, now: float) -> None:
        if self.job is None or now - self._progress_at < PROGRESS_INTERVAL_S or not streamer.lines:
            return
        self._progress_at = now
        progress = streamer.acknowledged / len(streamer.lines)
        elapsed = now - self._started_at
        eta = round(elapsed * (1 - progress) / progress, 1) if progress > 0 else None
        self.desk.publish_progress(self.job.job_id, round(progress, 3), eta)

    def _stop(self, now: float) -> None:
        self.link.realtime(REALTIME_HOLD)
        self._reset_at = None
        self._enter(Phase.STOPPING, now)

    def _interrupt(self, detail: str, now: float) -> None:
        self._end_job("interrupted", detail)
        self._stop(now)

    def _end_job(self, state: str, detail: str) -> None:
        job = self.job
        self.job, self.streamer = None, None
        if job is None:
            return
        if self.journal.transition(job.job_id, state, detail, expect=("running",)):
            counter = f"jobs_{state}"
            setattr(self.counters, counter, getattr(self.counters, counter) + 1)
            (log.info if state == "done" else log.warning)("engraver %s: job %s %s%s", self.config.id,
                                                          job.job_id, state, f": {detail}" if detail else "")
            self.desk.publish(job, progress=1.0 if state == "done" else None)

    def _reject(self, detail: str, now: float) -> None:
        job, self.job = self.job, None
        if job is not None and self.journal.transition(job.job_id, "rejected", detail, expect=("accepted",)):
            self.counters.jobs_rejected += 1
            log.warning("engraver %s: job %s rejected: %s", self.config.id, job.job_id, detail)
            self.desk.publish(job)
        self._enter(Phase.IDLE, now)

    def _back_to_idle(self, why: str, now: float) -> None:
        log.info("engraver %s: back to idle (%s)", self.config.id, why)
        self._enter(Phase.IDLE, now)

    def _log_waiting(self, message: str) -> None:
        if message != self._waiting_logged:
            log.warning("engraver %s: job %s %s", self.config.id, self.job.job_id if self.job else "-", message)
            self._waiting_logged = message

    def machine_state(self) -> str | None:
        if self._door_open.is_set():
            return "Door"
        return self.status.state if self.status is not None else None

    def _publish_machine_state(self) -> None:
        state = self.machine_state()
        if state is not None and state != self._published:
            self._published = state
            self.desk.publish_machine(state)

    def went_offline(self) -> None:
        """The supervisor lost the device: say so on the retained state topic."""
        self._published = "offline"
        self.desk.publish_machine("offline")

    def __repr__(self) -> str:
        return (f"<Engraver {self.config.id} port={self.config.port} phase={self.phase.value} "
                f"state={self.machine_state()}>")
