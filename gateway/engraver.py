"""A GRBL laser engraver: runs journaled jobs one at a time, never twice, never door open.

Wiring: the laser's controller on a serial port (``port``, a udev name); the enclosure's door
switch between ``door_pin`` and ground, closed when the door is shut. The input is pulled up,
so a cut wire reads as an open door: no firing.

The :class:`Engraver` is a supervised device. Each ``poll`` reads replies, asks ``?`` every
``status_interval_s`` and moves the current job one step: pre-fire checks (door closed,
GRBL ``Idle``, no alarm, ``$32=1``), ``running`` committed to the journal, character-counted
streaming, ``done`` once the machine is idle again. An ``error:N`` ends the job ``failed``;
the door, an alarm, a controller reset or a lost link end it ``interrupted``. Either way the
laser is stopped (feed hold, then soft reset, unless an alarm already halted it) and the job
is never resumed: an operator retries or cancels.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import serial

from benchpin.config import EngraverConfig
from firmware_bridge.grbl import (REALTIME_HOLD, REALTIME_RESET, REALTIME_STATUS, Alarm, Error, Message, Ok,
                                  Reply, Setting, Status, Welcome)
from firmware_bridge.streamer import Streamer
from gateway.engraver_jobs import JobDesk
from gateway.grbl_link import GrblLink
from gateway.job_journal import Job, JobJournal
from gateway.supervisor import DeviceFailure, Stalled

log = logging.getLogger(__name__)

ACTIVE = ("streaming", "finishing")


@dataclass
class EngraverCounters:
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_interrupted: int = 0
    jobs_rejected: int = 0
    holds_sent: int = 0
    bad_replies: int = 0


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
        self.phase = "idle"  # idle | checking | streaming | finishing | stopping
        self.job: Job | None = None
        self.streamer: Streamer | None = None
        self.status: Status | None = None
        self._status_at = 0.0
        self._phase_at = 0.0
        self._last_reply = 0.0
        self._heard_at = 0.0
        self._reset_at: float | None = None
        self._settings: dict[int, str] = {}
        self._settings_ok = False
        self._next_status = 0.0
        self._next_queue_check = 0.0
        self._waiting_logged = ""
        self._published: str | None = None
        self._door: Any = None
        self._door_open = threading.Event()
        self._wake = threading.Event()
        desk.when_queued = self._wake.set
        if config.door_pin is None:
            log.warning("engraver %s has no door_pin: firing is not interlocked with the door", config.id)

    # ------------------------------------------------------------------ device

    def open(self) -> None:
        self.link.open()
        self._open_door()
        self.link.realtime(REALTIME_RESET)  # a known state: nothing left running from before
        deadline = time.monotonic() + 3.0
        while not any(isinstance(r, Welcome) for r in self.link.read_replies()):
            if time.monotonic() > deadline:
                raise DeviceFailure(f"no GRBL banner from {self.config.port} after a soft reset")
        self.phase, self.status, self._published = "idle", None, None
        self._next_status = 0.0
        self._heard_at = time.monotonic()
        self._door_reset_at = 0.0
        self._wake.set()

    def _open_door(self) -> None:
        if self.config.door_pin is None or self._door is not None:
            return
        from gpiozero import DigitalInputDevice  # imported here so the gateway imports on any dev box
        from gpiozero.exc import GPIOZeroError

        try:
            self._door = DigitalInputDevice(self.config.door_pin, pull_up=True, pin_factory=self.pin_factory)
        except (GPIOZeroError, OSError) as exc:
            raise DeviceFailure(f"cannot read the door on GPIO{self.config.door_pin}: {exc}") from exc
        self._door.when_deactivated = self._door_opened
        self._door.when_activated = self._door_closed
        if self._door.is_active:
            self._door_open.clear()
        else:
            self._door_open.set()

    def _door_opened(self) -> None:
        """Hold at once if a job is firing; the poll loop then ends the job (gpiozero's thread)."""
        self._door_open.set()
        if self.phase in ACTIVE and self.link.is_open:
            try:
                self.link.realtime(REALTIME_HOLD)
                self.counters.holds_sent += 1
            except DeviceFailure as exc:
                log.error("engraver %s: door opened but the feed hold could not be sent: %s", self.config.id, exc)
        log.warning("engraver %s: door opened%s", self.config.id, " mid-job: feed hold sent" if self.job else "")

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
        getattr(self, f"_step_{self.phase}")(now)
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
        self.phase, self.job, self.streamer = "idle", None, None
        self.link.close()

    def shutdown(self) -> None:
        """Release the door input for good (the gateway is stopping); idempotent."""
        if self._door is not None:
            door, self._door = self._door, None
            door.close()

    # ------------------------------------------------------------------ replies

    def handle_reply(self, reply: Reply, now: float) -> None:
        if isinstance(reply, Status):
            self.status, self._status_at = reply, now
        elif isinstance(reply, Setting):
            self._settings[reply.number] = reply.value
        elif isinstance(reply, (Ok, Error)):
            self._last_reply = now
            if self.phase in ACTIVE and self.streamer is not None:
                self.streamer.handle_reply(reply)
            elif self.phase == "checking":
                # The ok closing the $$ listing comes after the settings; an ok before them is stray.
                self._settings_ok = isinstance(reply, Ok) and bool(self._settings)
                if isinstance(reply, Error):
                    self._back_to_idle(f"settings query refused: {reply.describe()}")
        elif isinstance(reply, Alarm):
            log.error("engraver %s: %s", self.config.id, reply.describe())
            self.status, self._status_at = Status("Alarm"), now
            if self.phase in ACTIVE:  # an alarm cuts a job short like a reset: interrupted, not resumed
                self._end_job("interrupted", reply.describe())
                self.phase = "idle"  # GRBL has halted and flushed its buffers itself
            elif self.phase == "checking":
                self._back_to_idle("alarm during the pre-fire check")
        elif isinstance(reply, Welcome):
            if self.phase in ACTIVE:
                self._end_job("interrupted", "the laser controller was reset mid-job; not resumed")
            if self.phase != "idle":
                self._back_to_idle("controller reset")
        elif isinstance(reply, Message):
            log.info("engraver %s says: %s", self.config.id, reply.text)

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
        if self.job is None:
            if not self._wake.is_set() and now < self._next_queue_check:
                return
            self._wake.clear()
            self._next_queue_check = now + 1.0
            self.job = self.journal.next_queued(self.config.id)
            if self.job is None:
                return
            self._phase_at = now
        if self._door_open.is_set():
            self._reject("the door is open: close it, then retry the job")
            return
        if self.status is None or self._status_at <= self._phase_at:
            return  # a status report newer than the job is needed
        if self.status.state != "Idle":
            self._log_waiting(f"waiting for the laser to be Idle (it is {self.status.state}"
                              f"{': clear the alarm' if self.status.state == 'Alarm' else ''})")
            return
        self._settings, self._settings_ok = {}, False
        self.link.write(b"$$\n")
        self.phase, self._phase_at = "checking", now

    def _step_checking(self, now: float) -> None:
        assert self.job is not None
        if not self._settings_ok:
            if now - self._phase_at > self.config.reply_timeout_s:
                raise Stalled(f"no answer to $$ from {self.config.port} for {self.config.reply_timeout_s:g}s")
            return
        if self._settings.get(32) != "1":
            self._reject(f"laser mode is off ($32={self._settings.get(32, 'unknown')}): set $32=1 on the controller")
            return
        if self._door_open.is_set():
            self._reject("the door is open: close it, then retry the job")
            return
        if not self.journal.transition(self.job.job_id, "running", f"attempt on {self.config.id}",
                                       expect=("accepted",)):
            log.info("engraver %s: job %s was changed before firing; skipped", self.config.id, self.job.job_id)
            self.job, self.phase = None, "idle"
            return
        self.desk.publish(self.job)
        self._waiting_logged = ""
        log.info("engraver %s: firing job %s (%d lines)", self.config.id, self.job.job_id, len(self.job.program))
        self.streamer = Streamer(self.job.program)
        self.phase, self._phase_at, self._last_reply = "streaming", now, now

    def _step_streaming(self, now: float) -> None:
        streamer = self.streamer
        assert streamer is not None
        if self._door_open.is_set():
            self._interrupt("the door was opened mid-job: feed hold sent, job not resumed", now)
        elif streamer.failure is not None:
            self._end_job("failed", streamer.failure.describe())
            self._stop(now)
        elif streamer.finished:
            self.phase, self._phase_at = "finishing", now
            self._next_status = now  # ask at once whether the last moves are done
        else:
            lines = streamer.take()
            if lines and not self.link.write(b"".join(lines), allowed=lambda: not self._door_open.is_set()):
                self._interrupt("the door was opened mid-job: feed hold sent, job not resumed", now)
            elif streamer.in_flight and now - self._last_reply > self.config.reply_timeout_s:
                raise Stalled(f"no ok from the laser for {self.config.reply_timeout_s:g}s mid-job")

    def _step_finishing(self, now: float) -> None:
        if self._door_open.is_set():
            self._interrupt("the door was opened mid-job: feed hold sent, job not resumed", now)
        elif self.status is not None and self._status_at > self._phase_at and self.status.state == "Idle":
            self._end_job("done", "")

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

    # ------------------------------------------------------------------ helpers

    def _stop(self, now: float) -> None:
        self.link.realtime(REALTIME_HOLD)
        self.phase, self._phase_at, self._reset_at = "stopping", now, None

    def _interrupt(self, detail: str, now: float) -> None:
        self._end_job("interrupted", detail)
        self._stop(now)

    def _end_job(self, state: str, detail: str) -> None:
        job = self.job
        self.job, self.streamer = None, None
        if job is None:
            return
        if self.journal.transition(job.job_id, state, detail, expect=("running",)):
            setattr(self.counters, f"jobs_{state}", getattr(self.counters, f"jobs_{state}") + 1)
            (log.info if state == "done" else log.warning)("engraver %s: job %s %s%s", self.config.id,
                                                          job.job_id, state, f": {detail}" if detail else "")
            self.desk.publish(job)

    def _reject(self, detail: str) -> None:
        job, self.job, self.phase = self.job, None, "idle"
        if job is not None and self.journal.transition(job.job_id, "rejected", detail, expect=("accepted",)):
            self.counters.jobs_rejected += 1
            log.warning("engraver %s: job %s rejected: %s", self.config.id, job.job_id, detail)
            self.desk.publish(job)
        self._wake.set()  # the next queued job may go

    def _back_to_idle(self, why: str) -> None:
        log.info("engraver %s: back to idle (%s)", self.config.id, why)
        self.phase, self._phase_at = "idle", time.monotonic()

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
        return f"<Engraver {self.config.id} port={self.config.port} phase={self.phase} state={self.machine_state()}>"
