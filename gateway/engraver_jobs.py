"""The job desk of one engraver: takes jobs and operator commands from MQTT, journals them,
and publishes every job state through the outbox.

The desk never touches the laser; the :class:`~gateway.engraver.Engraver` device takes
``accepted`` jobs from the journal one at a time. Messages from MQTT arrive on paho's thread
and are only queued there; the desk (a supervised device) validates, journals, then answers.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

from benchpin.config import EngraverConfig, is_segment
from benchpin.outbox import Outbox
from benchpin.topics import Topics, utc_ts
from firmware_bridge.gcode import LaserSettings, Layout, TextLayoutError, render_text
from gateway.job_journal import Job, JobJournal

log = logging.getLogger(__name__)

REQUIRED = ("job_id", "piece_id", "serial", "material")


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


def _job_id(payload: Any) -> str | None:
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if isinstance(job_id, str) and len(job_id) <= 64 and is_segment(job_id):
        return job_id
    return None


def plan_job(raw: bytes, config: EngraverConfig) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """Validate a job message and render its G-code; raise :class:`JobRejected` saying why."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise JobRejected(None, f"job is not JSON: {exc}") from None
    job_id = _job_id(payload)
    if job_id is None:
        raise JobRejected(None, "job_id missing or not usable as a topic segment (letters, digits, - _ .)")
    missing = [key for key in REQUIRED if not isinstance(payload.get(key), str) or not payload[key].strip()]
    if missing:
        raise JobRejected(job_id, f"missing or empty: {', '.join(missing)}")
    text = payload.get("text") or payload["serial"]
    if not isinstance(text, str):
        raise JobRejected(job_id, "text must be a string")
    material = config.material(payload["material"])
    if material is None:
        known = ", ".join(name for name, _ in config.materials)
        raise JobRejected(job_id, f"unknown material {payload['material']!r} (this engraver knows {known})")
    height = payload.get("height_mm", config.cap_height_mm)
    if height is None:
        height = config.cap_height_mm
    if isinstance(height, bool) or not isinstance(height, (int, float)) or not 0 < height <= 50:
        raise JobRejected(job_id, f"height_mm must be a number of mm above 0 and at most 50 (got {height!r})")
    layout = Layout(float(height), config.max_width_mm, config.origin_x_mm, config.origin_y_mm,
                    config.direction, config.min_cap_height_mm)
    try:
        program = render_text(text, layout, LaserSettings(material.power, material.feed_mm_min))
    except TextLayoutError as exc:
        raise JobRejected(job_id, str(exc)) from None
    return job_id, payload, program.lines


class JobDesk:
    """Journal and answer one engraver's jobs; a supervised device with no hardware."""

    def __init__(self, config: EngraverConfig, journal: JobJournal, outbox: Outbox, topics: Topics,
                 gateway_id: str) -> None:
        self.config = config
        self.name = f"jobs {config.id}"
        self.journal = journal
        self.outbox = outbox
        self.topics = topics
        self.gateway_id = gateway_id
        self.seq_key = f"engraver/{config.id}"
        self.counters = DeskCounters()
        self.when_queued: Callable[[], None] = lambda: None
        self._inbox: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        self._publish_lock = threading.Lock()
        for job_id in journal.interrupt_running(config.id, "the gateway stopped mid-job (crash, power cut "
                                                "or kill); not resumed: an operator retries or cancels"):
            log.warning("engraver %s: job %s was running when the gateway stopped; now interrupted",
                        config.id, job_id)

    # ------------------------------------------------------------------ MQTT (paho's thread)

    def on_job(self, topic: str, payload: bytes) -> None:
        self._inbox.put(("job", topic, payload))

    def on_command(self, topic: str, payload: bytes) -> None:
        self._inbox.put(("command", topic, payload))

    # ------------------------------------------------------------------ device

    def open(self) -> None:
        self.publish_pending()

    def poll(self) -> None:
        try:
            kind, topic, payload = self._inbox.get(timeout=0.3)
        except queue.Empty:
            self.publish_pending()  # changes made by `benchpin engraver` in another process
            return
        if kind == "job":
            self.handle_job(payload)
        else:
            self.handle_command(topic, payload)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ handling

    def handle_job(self, raw: bytes) -> None:
        self.counters.jobs_received += 1
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
        if job.state == "accepted":
            self.when_queued()

    def handle_command(self, topic: str, raw: bytes) -> None:
        self.counters.commands += 1
        parts = topic.split("/")
        job_id = parts[-2] if len(parts) >= 2 else ""
        try:
            payload = json.loads(raw.decode("utf-8"))
            action, operator = payload["action"], str(payload.get("operator", ""))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            self.counters.bad_messages += 1
            log.warning("engraver %s: command for job %s is not {\"action\", \"operator\"} JSON", self.config.id, job_id)
            return
        job = self.journal.get(job_id)
        if job is not None and job.engraver != self.config.id:
            job = None
        if action not in ("retry", "cancel") or job is None:
            self.counters.bad_messages += 1
            log.warning("engraver %s: command %r for job %s refused: %s", self.config.id, action, job_id,
                        "unknown job" if job is None else "action must be retry or cancel")
            return
        problem = (self.journal.retry if action == "retry" else self.journal.cancel)(job_id, operator)
        if problem:
            log.warning("engraver %s: %s refused: %s", self.config.id, action, problem)
            return
        log.info("engraver %s: job %s %s by %s", self.config.id, job_id, action, operator or "an operator")
        self.publish_pending()
        self.when_queued()

    # ------------------------------------------------------------------ publishing

    def publish_pending(self) -> None:
        """Publish every journaled state not yet handed to the outbox."""
        queued = False
        for job in self.journal.unpublished(self.config.id):
            self.publish(job)
            queued = queued or job.state == "accepted"
        if queued:
            self.when_queued()

    def publish(self, job: Job, *, force: bool = False) -> None:
        with self._publish_lock:
            current = self.journal.get(job.job_id) or job
            if not force and current.published == current.state:
                return
            self.publish_state(current.job_id, current.state, current.detail)
            self.journal.mark_published(current.job_id, current.state)

    def publish_state(self, job_id: str, state: str, detail: str) -> None:
        topic = self.topics.engraver_job_state(self.gateway_id, self.config.id, job_id)
        payload = {"job_id": job_id, "state": state, "ts": utc_ts(), "detail": detail}
        self.outbox.put(topic, payload, seq_key=self.seq_key, retain=True, kind="job", wait=True)

    def publish_machine(self, state: str) -> None:
        topic = self.topics.engraver_state(self.gateway_id, self.config.id)
        self.outbox.put(topic, {"state": state, "ts": utc_ts()}, seq_key=self.seq_key + "/state",
                        retain=True, kind="state", wait=False)


def _as_dict(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return payload if isinstance(payload, dict) else {}
