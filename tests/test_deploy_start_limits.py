"""Every unit stops a crash loop: a start limit that restarts alone can actually reach."""

from __future__ import annotations

import pytest

from tests.test_deploy_units import SYSTEMD_DIR, UNITS, directives


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_has_a_start_limit_its_restarts_can_reach(unit):
    found = directives(unit)
    interval = int(found["StartLimitIntervalSec"][-1])
    burst = int(found["StartLimitBurst"][-1])
    restart_sec = float(found.get("RestartSec", ["0.1"])[-1])
    assert interval > 0 and burst > 1
    # Back-to-back crashes must exceed the burst within the interval, or the limit never trips.
    assert burst * restart_sec < interval


def test_start_limits_live_in_the_unit_section():
    text = (SYSTEMD_DIR / "benchpin-gateway.service").read_text()
    assert text.index("StartLimitBurst=") < text.index("[Service]")
