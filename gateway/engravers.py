"""Wire a gateway's engravers: one journal, and per engraver a job desk and a laser device."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gateway.engraver import Engraver
from gateway.engraver_jobs import JobDesk
from gateway.job_journal import JobJournal
from gateway.supervisor import Supervisor

if TYPE_CHECKING:
    from benchpin.config import GatewayConfig
    from gateway.service import Gateway

JOURNAL_FILE = "engraver-jobs.sqlite"


def journal_path(gw: GatewayConfig) -> Path:
    return Path(gw.state_dir) / JOURNAL_FILE


def build_engravers(gateway: Gateway) -> list[Engraver]:
    """Create the journal, desks and devices; subscribe their topics on the gateway's session."""
    gw = gateway.gw
    if not gw.engravers:
        return []
    journal = JobJournal(journal_path(gw))
    gateway.closers.append(journal.close)
    engravers = []
    for config in gw.engravers:
        desk = JobDesk(config, journal, gateway.outbox, gateway.topics, gw.id)
        engraver = Engraver(config, desk, journal, pin_factory=gateway.pin_factory)
        gateway.add_device(desk, counters=desk.counters)

        def state_changed(supervisor: Supervisor, engraver: Engraver = engraver) -> None:
            if supervisor.state in ("down", "stopped"):
                engraver.went_offline()

        gateway.add_device(engraver, counters=engraver.counters, when_state_changed=state_changed)
        gateway.session.subscribe(gateway.topics.engraver_job(gw.id, config.id), desk.on_job)
        gateway.session.subscribe(gateway.topics.engraver_job_command(gw.id, config.id), desk.on_command)
        gateway.closers.append(engraver.shutdown)
        engravers.append(engraver)
    return engravers
