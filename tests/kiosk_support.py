"""Kiosk test support: a ledger URL on SQLite and on the machine's PostgreSQL, seeded ledgers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from kiosk.ledger import Ledger, PieceSpec
from kiosk.ledger.checks import passing_answers

POSTGRES_URL = os.environ.get("BENCHPIN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

OPERATORS = {
    "OP-ART": "artisan", "OP-SET": "setter", "OP-QC": "qc", "OP-ENG": "engraver", "OP-SUP": "supervisor",
}


def _postgres_reason() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {str(exc).strip().splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_unavailable() -> str | None:
    return _postgres_reason()


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


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path,
               postgres_unavailable: str | None) -> Iterator[str]:
    """A fresh, empty ledger database: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    if postgres_unavailable:
        pytest.skip(postgres_unavailable)
    yield from postgres_schema_url()


SUPERVISOR_PIN = "2468"  # OP-SUP's PIN: the touch screens ask for it before a supervisor action


def add_operators(ledger: Ledger) -> None:
    for operator_id, role in OPERATORS.items():
        ledger.add_operator(operator_id, f"{role.title()} One", role,
                            pin=SUPERVISOR_PIN if role == "supervisor" else None)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """A ledger with one operator per role (OP-ART, OP-SET, OP-QC, OP-ENG, OP-SUP)."""
    with Ledger(ledger_url) as led:
        add_operators(led)
        yield led


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
