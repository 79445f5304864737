"""Wire a gateway's engravers: one journal, and per engraver a job desk and a laser device."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from benchpin.config import EngraverConfig, GatewayConfig
from gateway.engraver import Engraver
from gateway.engraver_jobs import JobDesk
from gateway.job_journal import JobJournal
from gateway.supervisor import Supervisor
from gateway.wiring import Wiring

JOURNAL_FILE = "engraver-jobs.sqlite"


def journal_path(gw: GatewayConfig) -> Path:
    return Path(gw.state_dir) / JOURNAL_FILE


def build_engravers(engravers_config: Sequence[EngraverConfig], journal_file: Path,
                    wiring: Wiring) -> list[Engraver]:
    """Create the journal, desks and devices; subscribe their topics."""
    if not engravers_config:
        return []
    journal = JobJournal(journal_file)
    wiring.closers.append(journal.close)
    engravers = []
    gateway_id, topics = wiring.gateway_id, wiring.topics
    for config in engravers_config:
        desk = JobDesk(config, journal, wiring.outbox, topics, gateway_id, publish_direct=wiring.publish_direct)
        engraver = Engraver(config, desk, journal, pin_factory=wiring.pin_factory)
        wiring.add_device(desk, counters=desk.counters)

        def state_changed(supervisor: Supervisor, engraver: Engraver = engraver) -> None:
            if supervisor.state in ("down", "stopped"):
                engraver.went_offline()

        wiring.add_device(engraver, counters=engraver.counters, when_state_changed=state_changed)
        wiring.subscribe(topics.engraver_job(gateway_id, config.id), desk.on_job)
        wiring.subscribe(topics.engraver_job_command(gateway_id, config.id), desk.on_command)
        wiring.subscribe(topics.engraver_command(gateway_id, config.id), desk.on_engraver_command)
        wiring.closers.append(engraver.shutdown)
        engravers.append(engraver)
    return engravers
