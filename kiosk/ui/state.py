"""What the touch screens own beside the ledger: the live feed, the idle limit, a clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask, current_app

from kiosk.live import LiveFeed

EXTENSION = "benchpin.kiosk.ui"


@dataclass
class UiState:
    live: LiveFeed
    idle_logout_s: float
    stages: tuple[str, ...]  # the stages this kiosk's station serves (its WIP)
    clock: Callable[[], float] = field(default=time.time)  # wall clock: sessions outlive a restart


def ui_state(app: Flask | None = None) -> UiState:
    state: UiState = (app or current_app).extensions[EXTENSION]
    return state
