"""The job desk of one engraver: takes jobs and operator commands from MQTT, journals them,
and publishes every job state through the outbox.

The desk never touches the laser; the :class:`~gateway.engraver.Engraver` device takes
``accepted`` jobs from the journal one at a time. Messages from MQTT arrive on paho's thread
and are only queued there; the desk (a supervised device) validates, journals, then answers.
An unlock command for the laser is journaled as a request the engraver acts on, the same way
``benchpin engraver unlock`` asks. Once a job has been terminal for ``job_retain_s``, its
retained state topic is cleared (an empty retained message), so the broker keeps no job forever.

On a full disk (the outbox or the journal refuses writes) a new job is refused, not lost: it is
answered ``rejected: the gateway's disk is full`` through ``publish_direct``, which hands the
state straight to the MQTT client (in memory only), so the answer needs no disk.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from benchpin.config import EngraverConfig
from benchpin.contract import (ContractError, EngraverCommand, EngraverState, EngraverStatus, EngraveJob, JobAction,
                               JobDecision, JobState, JobStatus, bounded, decode_json, job_id_of, topic_segment)
from benchpin.outbox import Outbox, OutboxWriteError
from benchpin.topics import Topics, encode, utc_ts
from firmware_bridge.gcode import LaserSettings, Layout, TextLayoutError, render_text
from gateway.job_journal import Job, JobJournal

log = logging.getLogger(__name__)

class JobRejected(ValueError):
    """A job that cannot be engraved; ``job_id`` is None when even the id is unusable."""

    def __init__(self, job_id: str | None, reason: str) -> None:
        self.job_id = job_id
        super().__init__(reason)


@dataclass
class DeskCounters:
    jobs_received: int = 0
    jobs_rejected: int = 0
    duplicates: int = 0
    commands: int = 0
    bad_messages: int = 0
    unlock_requests: int = 0
    retained_cleared: int = 0
    disk_full_refusals: int = 0  # jobs refused because the disk refuses writes

DISK_FULL = "the gateway's disk is full"
DirectPublish = Callable[[str, bytes], None]  # (topic, payload): retained QoS 1, not persisted


def plan_job(raw: bytes, config: EngraverConfig) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """Validate a job message and render its G-code; raise :class:`JobRejected` saying why."""
    try:
        payload = decode_json(raw, EngraveJob.NAME)
    except ContractError as exc:
        if "not JSON" not in str(exc):
            raise JobRejected(None, "job_id missing: the job is not a JSON object") from None
        raise JobRejected(None, f"job is not JSON: {exc}") from None
    job_id = job_id_of(payload)
    if job_id is None:
        raise JobRejected(None, "job_id missing or not usable as a topic segment (letters, digits, - _ .)")
    try:
        job = EngraveJob.from_payload(payload)
    except ContractError as exc:
        raise JobRejected(job_id, str(exc).removeprefix(f"{EngraveJob.NAME}: ")) from None
    material = config.material(job.material)
    if material is None:
        known = ", ".join(name for name, _ in config.materials)
        raise JobRejected(job_id, f"unknown material {bounded(job.material, 40)!r} (this engraver knows {known})")
    height = config.cap_height_mm if job.height_mm is None else job.height_mm
    if not 0 < height <= 50:
        raise JobRejected(job_id, f"height_mm must be a number of mm above 0 and at most 50 (got {height!r})")
    text = job.text
    layout = Layout(float(height), config.max_width_mm, config.origin_x_mm, config.origin_y_mm,
                    config.direction, config.min_cap_height_mm)
    try:
        program = render_text(text, layout, LaserSettings(material.power, material.feed_mm_min))
    except TextLayoutError as exc:
        raise JobRejected(job_id, str(exc)) from None
    return job_id, dict(payload), program.lines


class JobDesk:
    """Journal and answer one engraver's jobs; a supervised device with no hardware."""

    def __init__(self, config: EngraverConfig, journal: JobJournal, outbox: Outbox, topics: Topics,
                 gateway_id: str, *, publish_direct: DirectPublish | None = None) -> None:
        self.config = config
        self.publish_direct = publish_direct
        self.name = f"jobs {config.id}"
        self.journal = journal
        self.outbox = outbox
        self.topics = topics
        self.gateway_id = gateway_id
        self._unpublishable = False  # a state could not be published (full disk): logged once
        self.seq_key = f"engraver/{config.id}"
        self.counters = DeskCounters()
        self.when_queued: Callable[[], None] = lambda: None
        self._inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self._publish_lock = threading.Lock()
        self._next_expiry_check = 0.0
        for job_id in journal.interrupt_running(config.id, "the gateway stopped mid-job (crash, power cut "
                                                "or kill); not resumed: an operator retries or cancels"):
            log.warning("engraver %s: job %s was running when the gateway stopped; now interrupted",
                        config.id, job_id)

    # ------------------------------------------------------------------ MQTT (paho's thread)

    def on_job(self, topic: str, payload: bytes) -> None:
        self._inbox.put(("job", topic, payload))

    def on_command(self, topic: str, payload: bytes) -> None:
        self._inbox.put(("command", topic, payload))

    def on_engraver_command(self, topic: str, payload: bytes) -> None:
        self._inbox.put(("engraver", topic, payload))

    # ------------------------------------------------------------------ device

    def open(self) -> None:
        self.publish_pending()

    def poll(self) -> None:
        now = time.monotonic()
        if now >= self._next_expiry_check:
            self._next_expiry_check = now + min(1.0, self.config.job_retain_s / 2)
            self.clear_expired()
        try:
            kind, topic, payload = self._inbox.get(timeout=0.3)
        except queue.Empty:
            self.publish_pending()  # changes made by `benchpin engraver` in another process
            return
        if kind == "job":
            self.handle_job(payload)
            return
        try:
            if kind == "engraver":
                self.handle_engraver_command(payload)
            else:
                self.handle_command(topic, payload)
        except (sqlite3.Error, OSError) as exc:  # the journal refuses writes: the command is refused
            self.counters.bad_messages += 1
            log.error("engraver %s: command on %s not taken: the journal cannot write (%s)", self.config.id,
                      topic, exc)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ handling

    def handle_job(self, raw: bytes) -> None:
        self.counters.jobs_received += 1
        if self.outbox.write_error is not None:
            self.refuse_on_full_disk(raw, self.outbox.write_error)
            return
        try:
            self._take_job(raw)
        except (sqlite3.Error, OSError) as exc:
            self.refuse_on_full_disk(raw, str(exc))

    def refuse_on_full_disk(self, raw: bytes, error: str) -> None:
        """Answer a job the gateway cannot keep ``rejected``, without writing to disk."""
        self.counters.jobs_rejected += 1
        self.counters.disk_full_refusals += 1
        job_id = job_id_of(raw)
        detail = DISK_FULL if "full" in error.lower() else f"the gateway cannot write to its disk ({error})"
        log.error("engraver %s: job %s refused: %s: %s", self.config.id, job_id or "(no usable id)", detail, error)
        if job_id is None or self.publish_direct is None:
            return
        if (known := self._known(job_id)) is not None and known.state != JobState.REJECTED:
            return  # journaled before the disk filled: its state stands and is published when it can be
        topic = self.topics.engraver_job_state(self.gateway_id, self.config.id, job_id)
        status = JobStatus(job_id=job_id, state=JobState.REJECTED, ts=utc_ts(), detail=bounded(detail))
        self.publish_direct(topic, encode(status.to_payload()))

    def _known(self, job_id: str) -> Job | None:
        try:
            return self.journal.get(job_id)
        except sqlite3.Error:
            return None

    def _take_job(self, raw: bytes) -> None:
        try:
            job_id, payload, program = plan_job(raw, self.config)
        except JobRejected as exc:
            self.counters.jobs_rejected += 1
            log.warning("engraver %s: job %s rejected: %s", self.config.id, exc.job_id or "(no usable id)", exc)
            if exc.job_id is None:
                self.counters.bad_messages += 1
                return
            job_id, payload, program = exc.job_id, _as_dict(raw), ()
            job, created = self.journal.add(job_id, self.config.id, payload, program, "rejected", str(exc))
        else:
            job, created = self.journal.add(job_id, self.config.id, payload, program)
        if not created:
            self.counters.duplicates += 1
            log.info("engraver %s: job %s seen again; it is %s, answering that without firing",
                     self.config.id, job_id, job.state)
            if job.engraver != self.config.id:
                self.publish_state(job_id, "rejected", f"job id already used on engraver {job.engraver}")
                return
        self.publish(job, force=not created)
        if job.state == JobState.ACCEPTED:
            self.when_queued()

    def handle_command(self, topic: str, raw: bytes) -> None:
        self.counters.commands += 1
        job_id = topic_segment(topic, -2)
        try:
            decision = JobDecision.from_payload(raw, job_id=job_id)
        except ContractError as exc:
            self.counters.bad_messages += 1
            log.warning("engraver %s: command for job %s refused: %s", self.config.id, job_id, exc)
            return
        job = self.journal.get(job_id)
        if job is None or job.engraver != self.config.id:
            self.counters.bad_messages += 1
            log.warning("engraver %s: command %r for job %s refused: unknown job", self.config.id,
                        decision.action.value, job_id)
            return
        action, operator = decision.action, decision.operator
        problem = (self.journal.retry if action is JobAction.RETRY else self.journal.cancel)(job_id, operator)
        if problem:
            log.warning("engraver %s: %s refused: %s", self.config.id, action, problem)
            return
        log.info("engraver %s: job %s %s by %s", self.config.id, job_id, action, operator or "an operator")
        self.publish_pending()
        self.when_queued()

    def handle_engraver_command(self, raw: bytes) -> None:
        """Journal an unlock request for the engraver to act on (it refuses with the door open)."""
        self.counters.commands += 1
        try:
            command = EngraverCommand.from_payload(raw)
        except ContractError as exc:
            self.counters.bad_messages += 1
            log.warning("engraver %s: command refused: %s", self.config.id, exc)
            return
        self.counters.unlock_requests += 1
        log.warning("engraver %s: %s asked by %s over MQTT", self.config.id, command.action.value, command.operator)
        self.journal.request_unlock(self.config.id, command.operator)
        self.when_queued()

    # ------------------------------------------------------------------ publishing

    def clear_expired(self) -> None:
        """Clear the retained topic of every job terminal for longer than ``job_retain_s``."""
        for job in self.journal.expired(self.config.id, self.config.job_retain_s):
            topic = self.topics.engraver_job_state(self.gateway_id, self.config.id, job.job_id)
            try:
                self.outbox.put(topic, b"", retain=True, kind="job", wait=True)
            except OutboxWriteError:
                return  # cleared on a later check, once the disk takes writes again
            self.journal.mark_cleared(job.job_id)
            self.counters.retained_cleared += 1
            log.info("engraver %s: job %s %s for %gs: retained state cleared", self.config.id, job.job_id,
                     job.state, self.config.job_retain_s)

    def publish_pending(self) -> None:
        """Publish every journaled state not yet handed to the outbox."""
        queued = False
        for job in self.journal.unpublished(self.config.id):
            self.publish(job)
            queued = queued or job.state == JobState.ACCEPTED
        if queued:
            self.when_queued()

    def publish(self, job: Job, *, force: bool = False, progress: float | None = None) -> None:
        """Publish a job's journaled state once; on a full disk it stays unpublished, for later."""
        with self._publish_lock:
            current = self.journal.get(job.job_id) or job
            if not force and current.published == current.state:
                return
            try:
                self.publish_state(current.job_id, current.state, current.detail,
                                   progress=progress if current.state in ("running", "done") else None)
            except OutboxWriteError as exc:
                self._not_published(current.job_id, exc)
                return
            self.journal.mark_published(current.job_id, current.state)
            self._unpublishable = False

    def publish_progress(self, job_id: str, progress: float, eta_s: float | None) -> None:
        """Publish a running job's progress (not journaled: the next state supersedes it)."""
        with self._publish_lock:
            try:
                self.publish_state(job_id, JobState.RUNNING, "", progress=progress, eta_s=eta_s, wait=False)
            except OutboxWriteError as exc:
                self._not_published(job_id, exc)

    def _not_published(self, job_id: str, exc: OutboxWriteError) -> None:
        # The journal keeps the state; publish_pending() sends it once the disk takes writes again.
        (log.debug if self._unpublishable else log.error)(
            "engraver %s: state of job %s kept in the journal, not yet published: %s", self.config.id, job_id, exc)
        self._unpublishable = True

    def publish_state(self, job_id: str, state: str, detail: str, *, progress: float | None = None,
                      eta_s: float | None = None, wait: bool = True) -> None:
        topic = self.topics.engraver_job_state(self.gateway_id, self.config.id, job_id)
        status = JobStatus(job_id=job_id, state=JobState(state), ts=utc_ts(), detail=bounded(detail),
                           progress=progress, eta_s=eta_s)
        self.outbox.put(topic, status.to_payload(), seq_key=self.seq_key, retain=True, kind="job", wait=wait)

    def publish_machine(self, state: str) -> None:
        machine = EngraverState.of(state)
        if machine is None:
            log.warning("engraver %s: GRBL reports an unknown state %r; not published", self.config.id, state)
            return
        topic = self.topics.engraver_state(self.gateway_id, self.config.id)
        try:
            self.outbox.put(topic, EngraverStatus(state=machine, ts=utc_ts()).to_payload(),
                            seq_key=self.seq_key + "/state", retain=True, kind="state", wait=False)
        except OutboxWriteError as exc:
            log.warning("engraver %s: machine state %s not published: %s", self.config.id, state, exc)


def _as_dict(raw: bytes) -> dict[str, Any]:
    try:
        return dict(decode_json(raw, EngraveJob.NAME))
    except ContractError:
        return {}
