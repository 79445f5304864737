"""Kiosk checks of a station config: what only the kiosk's own code can tell.

:mod:`benchpin.config` parses the shape of ``[kiosk]``; :func:`kiosk_checks` adds what needs
the kiosk: the routes file loads, every ``kiosk.station`` stage is in its routes, the serial
pattern formats, the secret files exist, a PostgreSQL ledger has an event outbox file. Pass it
to :func:`benchpin.config.load_config` as one of the ``checks``.
"""

from __future__ import annotations

from pathlib import Path

from benchpin.config import Report, StationConfig
from kiosk.ledger.serials import check_pattern
from kiosk.ledger.workflow import WorkflowError, load_workflow
from kiosk.routes import DEFAULT_ROUTES_FILE


def kiosk_checks(config: StationConfig, report: Report) -> None:
    """Report what makes ``[kiosk]`` unusable by the kiosk (nothing without a ``[kiosk]``)."""
    kiosk = config.kiosk
    if kiosk is None:
        return
    if problem := check_pattern(kiosk.serial_pattern):
        report("kiosk.serial_pattern", problem)
    try:
        workflow = load_workflow(kiosk.routes_file or DEFAULT_ROUTES_FILE)
    except WorkflowError as exc:
        for problem in exc.problems:
            report("kiosk.routes_file", problem)
    else:
        known = {stage.name for route in workflow.routes.values() for stage in route.stages}
        for stage in kiosk.stations:
            if stage not in known:
                report("kiosk.station", f"{stage!r} is no stage of any route (stages: {', '.join(sorted(known))})")
    for key, path in (("api_token_file", kiosk.api_token_file), ("secret_key_file", kiosk.secret_key_file)):
        if path and not Path(path).is_file():
            report(f"kiosk.{key}", f"file not found: {path}")
    if kiosk.database.startswith(("postgresql://", "postgres://")) and not kiosk.outbox_file:
        report("kiosk.outbox_file", "is required with a PostgreSQL ledger (the kiosk's event outbox file)")
