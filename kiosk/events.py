"""The kiosk's MQTT bridge: every move to ``pieces/<piece_id>/events``, laser jobs to the engraver.

Moves are put into the kiosk's own durable outbox (committed before the move is answered) and
delivered by :class:`~benchpin.mqtt.OutboxSender` once the broker is reachable, so the kiosk
starts and works while the broker is down. A piece entering its route's engraving stage gets
a job published to ``<gw>/engraver/<engraver>/job`` (``kiosk.engraver``); the job id is the id
of that move's event. The bridge follows ``…/job/+``: a ``done`` advances the piece by itself
(operator ``laser``), guarded by the event's version so a stale or repeated ``done`` moves
nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from pathlib import Path
from typing import Any

from benchpin.config import StationConfig
from benchpin.contract import ContractError, EngraveJob, JobState, JobStatus, KioskStatus, ProbeWindow
from benchpin.mqtt import MqttSession, OutboxSender
from benchpin.outbox import Outbox, OutboxWriteError
from benchpin.topics import Topics, encode
from kiosk.ledger import LASER, SCRAPPED, Event, Ledger, MoveRefused, NotFound, Piece, Tree
from kiosk.ledger.db import sqlite_path
from kiosk.pour import CASTING, tree_window

log = logging.getLogger(__name__)


DEFAULT_OUTBOX = "/var/lib/benchpin/kiosk-outbox.sqlite"


def outbox_path(config: StationConfig) -> Path:
    """Return the kiosk's outbox file: ``kiosk.outbox_file``, else next to a SQLite ledger."""
    assert config.kiosk is not None
    if config.kiosk.outbox_file:
        return Path(config.kiosk.outbox_file)
    ledger_file = sqlite_path(config.kiosk.database)
    return Path(ledger_file).parent / "kiosk-outbox.sqlite" if ledger_file else Path(DEFAULT_OUTBOX)


class KioskBridge:
    """Publish the ledger's moves and drive the station's laser engraver over MQTT."""

    def __init__(self, config: StationConfig, ledger: Ledger) -> None:
        assert config.kiosk is not None
        self.kiosk = config.kiosk
        self.ledger = ledger
        self.topics = Topics(config.site.id)
        self.outbox = Outbox(outbox_path(config), synchronous="full",
                             max_packet_bytes=config.mqtt.max_packet_bytes)
        self.session = MqttSession(config.mqtt, client_id=f"benchpin-kiosk-{config.site.id}-"
                                                           f"{self.kiosk.id}-{uuid.uuid4().hex[:6]}",
                                   status_topic=self.topics.kiosk_status(self.kiosk.id),
                                   status_message=KioskStatus, status_extra=self.status_extra)
        self.sender = OutboxSender(self.outbox, self.session, window=100, rate=0)
        ref = self.kiosk.engraver_ref
        self.gateway, self.engraver = (ref.gateway, ref.device) if ref else ("", "")
        self.jobs: dict[str, JobStatus] = {}  # job_id -> last state seen
        self.metals = config.metals
        self._window_tree = ""  # the tree whose pour window the furnace shows now
        self.window: ProbeWindow | None = None  # that window
        self._states: queue.SimpleQueue[JobStatus | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._complete_jobs, name="kiosk-jobs", daemon=True)
        self._started = False
        self._left_over = False  # a move was refused by the outbox: publish what is left over first
        self._republishing = threading.RLock()
        ledger.when_checking(self.check_fits)
        ledger.when_moved(self.on_moved)

    def status_extra(self) -> dict[str, Any]:
        """What the kiosk's retained ``online`` status carries: its name and its blocked stages."""
        try:
            blocks = self.ledger.blocks()
        except Exception:  # the status must go out even while the ledger is down
            log.warning("kiosk status without blocked stages: the ledger did not answer", exc_info=True)
            blocks = {}
        mine = {stage: block.to_dict() for stage, block in blocks.items() if stage in self.kiosk.stations}
        return {"name": self.kiosk.name, "blocked": mine}

    def start(self) -> None:
        """Connect in the background and start delivering; returns at once."""
        if self._started:
            return
        self._started = True
        if self.engraver:
            self.session.subscribe(self.topics.engraver_job_states(self.gateway, self.engraver),
                                   self.on_job_state)
        self.republish()
        self.session.start()
        self.sender.start()
        self._worker.start()

    def stop(self) -> None:
        """Stop the worker and the session and close the outbox (undelivered moves stay in it)."""
        if self._started:
            self._states.put(None)
            self._worker.join(5)
            self.sender.stop()
            self.session.stop()
            self._started = False
        self.outbox.close()

    # ------------------------------------------------------------------ moves out

    def check_fits(self, event: Event) -> None:
        """Refuse a move (before it commits) whose message the broker would refuse as too big."""
        self.outbox.check_size(self.topics.piece_events(event.piece_id), encode(event.to_payload()), 1)

    def on_moved(self, event: Event, piece: Piece) -> None:
        """Publish a committed move (the ledger's listener); after a refused one, every one left over first.

        A move the outbox refuses (its disk refuses writes) stays unpublished in the ledger; the
        next move that comes publishes the ones left over first, in order, itself among them.
        """
        with self._republishing:  # one mover at a time: what is left over goes out once, in order
            if self._left_over:
                self._left_over = False
                if event.event_id in self._republish() or self._left_over:
                    return  # published with the rest (or the outbox still refuses: it waits with them)
            try:
                self._publish_move(event, piece)
            except OutboxWriteError as exc:
                self._left_over = True
                log.error("move %s of %s is committed but not published yet: %s; it goes with the next move "
                          "once the outbox writes again, or at the next start", event.event_id, event.piece_id,
                          exc)

    def _publish_move(self, event: Event, piece: Piece) -> None:
        """Put a committed move into the outbox; dispatch the laser job when it enters engraving."""
        self.outbox.put(self.topics.piece_events(event.piece_id), event.to_payload(), kind="event", wait=True)
        if self._window_tree and event.from_stage == CASTING and piece.tree_id == self._window_tree:
            self.close_window()  # the poured tree moves on: the furnace has no window now
        route = self.ledger.workflow.route(piece.route)
        # Only while the piece still sits where this move put it (a republished old move must
        # not send a job for an engraving that is long over).
        if event.to_stage == route.engraving and event.to_stage != SCRAPPED and piece.version == event.version:
            self.dispatch_engraving(piece, job_id=event.event_id)
        self.ledger.mark_published(event.event_id)

    def republish(self) -> int:
        """Publish this station's moves a crash, or a refusing outbox, left out; return how many."""
        with self._republishing:  # two movers at once would both publish what is left over
            return len(self._republish())

    def _republish(self) -> set[str]:
        """Publish what is left over (lock held); return the event ids published."""
        published: set[str] = set()
        # Moves recorded before kiosks had ids carry the `station` text instead; the laser's
        # `done` moves, which this kiosk makes, carry its engraver.
        for station in dict.fromkeys(s for s in (self.kiosk.id, self.kiosk.station, self.kiosk.engraver) if s):
            while events := self.ledger.unpublished(station):
                for event in events:
                    try:
                        self._publish_move(event, self.ledger.piece(event.piece_id))
                    except OutboxWriteError as exc:  # still refused: the next move tries again
                        self._left_over = True
                        log.error("%d move(s) committed but not published yet: %s", len(events), exc)
                        return published
                    published.add(event.event_id)
        if published:
            log.warning("published %d move(s) that were committed but not yet in the outbox", len(published))
        return published

    # ------------------------------------------------------------------ pour windows

    def open_window(self, tree: Tree) -> ProbeWindow | None:
        """Publish (retained) the pour window of a tree scanned at casting on the furnace's window topic."""
        if not self.kiosk.gateway:
            log.warning("tree %s scanned at casting, but kiosk.gateway is not set: no pour window published",
                        tree.tree_id)
            return None
        found = tree_window(tree, self.metals)
        if isinstance(found, str):
            log.warning("tree %s: %s: no pour window published", tree.tree_id, found)
            return None
        metal, (low, high) = found
        window = ProbeWindow(tree_id=tree.tree_id, metal=metal, min_c=low, max_c=high)
        self.outbox.put(self.topics.probe_window(self.kiosk.gateway, self.kiosk.furnace), window.to_payload(),
                        retain=True, kind="state", wait=True)
        self._window_tree = tree.tree_id
        self.window = window
        log.info("pour window %g-%g °C for tree %s (%s) set on %s/%s", window.min_c, window.max_c, tree.tree_id,
                 window.metal, self.kiosk.gateway, self.kiosk.furnace)
        return window

    def close_window(self) -> None:
        """Clear the furnace's retained window (an empty retained message): no tree is being poured."""
        if not self.kiosk.gateway:
            return
        self.outbox.put(self.topics.probe_window(self.kiosk.gateway, self.kiosk.furnace), b"", retain=True,
                        kind="state", wait=True)
        log.info("pour window cleared on %s/%s (tree %s left casting)", self.kiosk.gateway, self.kiosk.furnace,
                 self._window_tree)
        self._window_tree = ""
        self.window = None

    def dispatch_engraving(self, piece: Piece, *, job_id: str) -> None:
        """Publish the laser job that inscribes the piece's serial number."""
        if not self.engraver:
            log.warning("%s entered %s but kiosk.engraver is not set: it waits for a manual advance",
                        piece.piece_id, piece.stage)
            return
        job = EngraveJob(job_id=job_id, piece_id=piece.piece_id, serial=piece.serial or "",
                         text=piece.serial or "", material=piece.metal, height_mm=self.kiosk.engrave_height_mm)
        self.outbox.put(self.topics.engraver_job(self.gateway, self.engraver), job.to_payload(), kind="job",
                        wait=True)
        log.info("engraving job %s for %s (serial %s) sent to %s", job_id, piece.piece_id, piece.serial,
                 self.kiosk.engraver)

    # ------------------------------------------------------------------ job states in

    def on_job_state(self, topic: str, payload: bytes) -> None:
        """Record a job state (paho's thread: decode and hand off only)."""
        try:
            status = JobStatus.from_payload(payload)
        except ContractError as exc:
            log.warning("ignoring a bad job state on %s: %s", topic, exc)
            return
        self.jobs[status.job_id] = status
        self._states.put(status)

    def _complete_jobs(self) -> None:
        while (status := self._states.get()) is not None:
            try:
                self.record_job(status)
            except Exception:  # the worker must survive a database outage
                log.exception("could not record engraving job %s (%s)", status.job_id, status.state)

    def record_job(self, status: JobStatus) -> Event | None:
        """Keep a job's state in the ledger; advance its piece once it is ``done``."""
        if not self.ledger.record_job(status.job_id, status.state.value, detail=status.detail,
                                      progress=status.progress, eta_s=status.eta_s):
            log.info("job %s is %s but is not one of ours (no such move)", status.job_id, status.state)
            return None
        if status.state is JobState.DONE:
            return self.complete_job(status.job_id)
        return None

    def complete_job(self, job_id: str) -> Event | None:
        """Advance the piece of a finished job, once; return the event or None if nothing moved."""
        try:
            dispatched = self.ledger.event(job_id)
        except NotFound:
            log.info("job %s is done but is not one of ours (no such move)", job_id)
            return None
        try:
            return self.ledger.advance(dispatched.piece_id, operator=LASER, station=self.kiosk.engraver,
                                       note=f"laser job {job_id} done", expected_version=dispatched.version)
        except MoveRefused as exc:  # e.g. a retained `done` seen again after a restart
            log.info("job %s done; %s not advanced: %s", job_id, dispatched.piece_id, exc)
            return None
