"""The MQTT contract: one topic builder and the payload helpers every publisher uses."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any


def utc_ts(when: datetime | None = None) -> str:
    """Return an RFC 3339 UTC timestamp with milliseconds (``2026-11-23T13:44:26.123Z``)."""
    when = when or datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def encode(payload: dict[str, Any]) -> bytes:
    """Encode a payload as compact UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Topics:
    """Build every topic of one site (``benchpin/<site>/…``) in one place."""

    def __init__(self, site: str) -> None:
        self.prefix = f"benchpin/{site}"

    def status(self, gateway: str) -> str:
        return f"{self.prefix}/{gateway}/status"

    def temperature(self, gateway: str, probe: str) -> str:
        return f"{self.prefix}/{gateway}/probe/{probe}/temperature"

    def probe_window(self, gateway: str, probe: str) -> str:
        return f"{self.prefix}/{gateway}/probe/{probe}/window"

    def scan(self, gateway: str, scanner: str) -> str:
        return f"{self.prefix}/{gateway}/scanner/{scanner}/scan"

    def engraver_job(self, gateway: str, engraver: str) -> str:
        return f"{self.prefix}/{gateway}/engraver/{engraver}/job"

    def engraver_job_state(self, gateway: str, engraver: str, job_id: str) -> str:
        return f"{self.prefix}/{gateway}/engraver/{engraver}/job/{job_id}"

    def engraver_job_command(self, gateway: str, engraver: str, job_id: str = "+") -> str:
        """An operator's retry/cancel for one job (``+``: every job of the engraver)."""
        return f"{self.prefix}/{gateway}/engraver/{engraver}/job/{job_id}/command"

    def engraver_job_states(self, gateway: str, engraver: str) -> str:
        """Subscription to every job state of one engraver (``…/job/+``)."""
        return f"{self.prefix}/{gateway}/engraver/{engraver}/job/+"

    def engraver_command(self, gateway: str, engraver: str) -> str:
        """An operator's command to the laser itself (``{"action": "unlock", …}``)."""
        return f"{self.prefix}/{gateway}/engraver/{engraver}/command"

    def engraver_state(self, gateway: str, engraver: str) -> str:
        return f"{self.prefix}/{gateway}/engraver/{engraver}/state"

    def kiosk_status(self, kiosk: str) -> str:
        """A kiosk's retained online/offline status (its Last Will is ``offline``)."""
        return f"{self.prefix}/kiosk/{kiosk}/status"

    def scale_weight(self, gateway: str, scale: str) -> str:
        return f"{self.prefix}/{gateway}/scale/{scale}/weight"

    def scale_state(self, gateway: str, scale: str) -> str:
        return f"{self.prefix}/{gateway}/scale/{scale}/state"

    def scale_command(self, gateway: str, scale: str) -> str:
        return f"{self.prefix}/{gateway}/scale/{scale}/command"

    def piece_events(self, piece_id: str) -> str:
        return f"{self.prefix}/pieces/{piece_id}/events"

    def all(self) -> str:
        return f"{self.prefix}/#"
