"""Typed reads from one TOML table, every problem recorded under its key path.

A :class:`Table` wraps one parsed TOML table (a ``dict``) and a shared problem list. Each read
names its key, checks its type (and range or choices) and, when something is wrong, appends
``<path>.<key>: <what is wrong>`` and returns a value of the right type so parsing can go on:
a user then sees every problem of a file at once. :meth:`Table.done` reports the keys nobody
read, with the nearest known key as a hint, so a typo is never silently ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Table:
    """Read typed values from one TOML table, recording problems under its key path."""

    def __init__(self, data: object, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        self.data: dict[str, object] = {}
        if isinstance(data, dict):
            self.data = data
        elif data is not None:
            self.problem("", "must be a table")
        self.used: set[str] = set()
        # Keys read under a condition (e.g. only for one kind) still count as known for hints.
        self.known: set[str] = set()

    # ------------------------------------------------------------------ paths and problems

    def path_of(self, key: str) -> str:
        """Return the full key path of ``key`` in this table (``gateway.probes[0].port``)."""
        return f"{self.path}.{key}" if self.path and key else (self.path or key)

    def problem(self, key: str, message: str) -> None:
        """Record a problem with ``key`` (``""``: with the table itself)."""
        self.problems.append(f"{self.path_of(key)}: {message}")

    def has(self, key: str) -> bool:
        """Say whether the file gives ``key`` (without reading it)."""
        return key in self.data

    def keys(self) -> list[str]:
        """Return the keys the file gives, in file order."""
        return list(self.data)

    def value(self, key: str) -> object:
        """Read ``key`` untyped (None when absent), for checks a typed read cannot express."""
        self.used.add(key)
        return self.data.get(key)

    def _read(self, key: str, required: bool) -> tuple[bool, object]:
        self.used.add(key)
        if key in self.data:
            return True, self.data[key]
        if required:
            self.problem(key, "is required")
        return False, None

    def _range(self, key: str, value: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and value < lo:
            self.problem(key, f"must be at least {lo} (got {value})")
        if hi is not None and value > hi:
            self.problem(key, f"must be at most {hi} (got {value})")

    # ------------------------------------------------------------------ typed reads

    def text(self, key: str, default: str | None = None, *, choices: Iterable[str] | None = None,
             nonempty: bool = False) -> str:
        """Read a string; ``default`` None makes the key required."""
        present, value = self._read(key, default is None)
        fallback = default if default is not None else ""
        if not present:
            return fallback
        if not isinstance(value, str):
            self.problem(key, "must be a string")
            return fallback
        if nonempty and not value.strip():
            self.problem(key, "must not be empty")
        if choices is not None:
            options = tuple(choices)
            if value not in options:
                self.problem(key, f"must be one of {', '.join(repr(c) for c in options)} (got {value!r})")
        return value

    def integer(self, key: str, default: int | None = None, *, min: int | None = None,
                max: int | None = None) -> int:
        """Read an integer (not a boolean); ``default`` None makes the key required."""
        found = self._integer(key, default is None, min, max)
        if found is None:
            return default if default is not None else 0
        return found

    def optional_integer(self, key: str, *, min: int | None = None, max: int | None = None) -> int | None:
        """Read an integer that may be left out (None)."""
        return self._integer(key, False, min, max)

    def _integer(self, key: str, required: bool, lo: int | None, hi: int | None) -> int | None:
        present, value = self._read(key, required)
        if not present:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, "must be an integer")
            return None
        self._range(key, value, lo, hi)
        return value

    def number(self, key: str, default: float | None = None, *, min: float | None = None,
               max: float | None = None) -> float:
        """Read a number (integer or float, not a boolean) as a float; ``default`` None: required."""
        fallback = default if default is not None else 0.0
        present, value = self._read(key, default is None)
        if not present:
            return fallback
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(key, "must be a number")
            return fallback
        self._range(key, value, min, max)
        return float(value)

    def flag(self, key: str, default: bool | None = None) -> bool:
        """Read true or false; ``default`` None makes the key required."""
        fallback = default if default is not None else False
        present, value = self._read(key, default is None)
        if not present:
            return fallback
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return fallback
        return value

    def texts(self, key: str, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Read a list of non-empty strings; ``default`` None makes the key required."""
        fallback = default if default is not None else ()
        present, value = self._read(key, default is None)
        if not present:
            return fallback
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(key, "must be a list of non-empty strings")
            return fallback
        return tuple(str(v) for v in value)

    def table(self, key: str, *, required: bool = False) -> Table | None:
        """Return the sub-table ``key`` (None when absent)."""
        present, value = self._read(key, required)
        if not present:
            return None
        return Table(value, self.path_of(key), self.problems)

    def tables(self, key: str) -> list[Table]:
        """Return the array of tables ``key`` (``[[key]]``; empty when absent)."""
        present, value = self._read(key, False)
        if not present:
            return []
        if not isinstance(value, list):
            self.problem(key, "must be an array of tables ([[...]])")
            return []
        return [Table(item, f"{self.path_of(key)}[{i}]", self.problems) for i, item in enumerate(value)]

    # ------------------------------------------------------------------ the end

    def expect(self, *keys: str) -> None:
        """Name keys this table knows but did not read this time (they still guide :meth:`done`)."""
        self.known.update(keys)

    def done(self) -> None:
        """Report keys nobody asked for, with the nearest known key: a typo must not be ignored."""
        known = sorted(self.used | self.known)
        for key in self.data:
            if key in self.used:
                continue
            close = difflib.get_close_matches(key, [k for k in known if k not in self.data], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.problem(key, f"unknown key{hint}")
