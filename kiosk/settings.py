"""Kiosk checks of a station config: what only the kiosk's own code can tell.

:mod:`benchpin.config` parses the shape of ``[kiosk]``; :func:`kiosk_checks` adds what needs
the kiosk: the routes file loads, every ``kiosk.station`` stage is in its routes, the serial
pattern formats, the secret files exist, a PostgreSQL ledger has an event outbox file. Pass it
to :func:`benchpin.config.load_config` as one of the ``checks``.
"""

from __future__ import annotations

from pathlib import Path

from benchpin.config import Report, StationConfig
from kiosk.labels import Label, LabelSize, LayoutError, layout
from kiosk.ledger.serials import check_pattern
from kiosk.ledger.workflow import WorkflowError, load_workflow
from kiosk.routes import DEFAULT_ROUTES_FILE


def kiosk_checks(config: StationConfig, report: Report) -> None:
    """Report what makes ``[kiosk]`` unusable by the kiosk (nothing without a ``[kiosk]``)."""
    label_checks(config, report)
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


# A long id of this site's shape: a printer whose label cannot carry its barcode is refused.
SAMPLE_ID = "PC-2026-00042X"


def label_checks(config: StationConfig, report: Report) -> None:
    """Report ``[[labels.printers]]`` the kiosk cannot print on: no folder, or too small a label.

    With ``labels.datamatrix`` a label must hold the Data Matrix beside the Code 128 too.
    """
    printers = config.labels.printers
    if printers and config.kiosk is None:
        report("labels", "needs a [kiosk] section (labels are read from the ledger kiosk.database names)")
    for i, printer in enumerate(printers):
        key = f"labels.printers[{i}]"
        if printer.kind in ("pdf", "png") and printer.directory and not Path(printer.directory).is_dir():
            report(f"{key}.directory", f"no such directory: {printer.directory}")
        size = LabelSize(width_mm=printer.width_mm, height_mm=printer.height_mm, dpi=printer.dpi)
        try:
            layout(Label("piece", SAMPLE_ID, ("style", "metal", "order")), size, datamatrix=config.labels.datamatrix)
        except LayoutError as exc:
            report(f"{key}.{exc.dimension}", f"too small a label for an id such as {exc}")
