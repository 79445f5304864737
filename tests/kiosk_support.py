"""Kiosk test support: operators of every role, piece specs, the PostgreSQL test schema, passing checks.

The fixtures built on these (``ledger_url``, ``ledger``, ``postgres_unavailable``) are in ``conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator

from kiosk.ledger import Ledger, PieceSpec
from kiosk.ledger.checks import passing_answers

POSTGRES_URL = os.environ.get("BENCHPIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

OPERATORS = {
    "OP-ART": "artisan", "OP-SET": "setter", "OP-QC": "qc", "OP-ENG": "engraver", "OP-SUP": "supervisor",
}


def postgres_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {str(exc).strip().splitlines()[0]}"


def postgres_schema_url() -> Iterator[str]:
    """Create a private schema, yield a URL whose search_path is that schema, drop it after."""
    import psycopg

    schema = f"bp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


SUPERVISOR_PIN = "2468"  # OP-SUP's PIN: the touch screens ask for it before a supervisor action


def add_operators(ledger: Ledger) -> None:
    for operator_id, role in OPERATORS.items():
        ledger.add_operator(operator_id, f"{role.title()} One", role,
                            pin=SUPERVISOR_PIN if role == "supervisor" else None)


def spec(piece_id: str, route: str = "production", **attrs: object) -> PieceSpec:
    return PieceSpec(piece_id=piece_id, route=route, **attrs)  # type: ignore[arg-type]


def engraved(ledger: Ledger, piece_id: str) -> None:
    """Record the laser job of a piece at engraving as done, as the engraver's gateway reports it."""
    job = ledger.laser_job(piece_id)
    if job is not None and job.state != "done":
        ledger.record_job(job.job_id, "done")


def passing(ledger: Ledger, piece_id: str) -> dict[str, object]:
    """Answer every check of the piece's current stage so that it passes (what a careful QC enters)."""
    piece = ledger.piece(piece_id)
    route = ledger.workflow.route(piece.route)
    if piece.stage not in {s.name for s in route.stages}:
        return {}
    return dict(passing_answers(route.stage(piece.stage).checks, piece))
