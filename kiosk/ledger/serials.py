"""Serial numbers from a workshop pattern such as ``BP-{year}-{seq:06d}``."""

from __future__ import annotations

import string
from datetime import datetime, timezone

DEFAULT_SERIAL_PATTERN = "BP-{year}-{seq:06d}"
FIELDS = ("seq", "year", "route", "piece_id")


def check_pattern(pattern: str) -> str | None:
    """Return a problem with ``pattern`` in words, or None when it can be used."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
        unknown = names - set(FIELDS)
        if unknown:
            return f"unknown field {{{sorted(unknown)[0]}}} (use {', '.join('{%s}' % f for f in FIELDS)})"
        if "seq" not in names and "piece_id" not in names:
            return "must contain {seq} or {piece_id}, or every piece would get the same serial"
        format_serial(pattern, seq=1, route="production", piece_id="PC-1")
    except (ValueError, IndexError, KeyError) as exc:
        return f"not a valid pattern: {exc}"
    return None


def format_serial(pattern: str, *, seq: int, route: str, piece_id: str,
                  now: datetime | None = None) -> str:
    """Format one serial number."""
    year = (now or datetime.now(timezone.utc)).year
    return pattern.format(seq=seq, year=year, route=route, piece_id=piece_id)
