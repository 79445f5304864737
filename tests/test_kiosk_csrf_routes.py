"""Every POST route of the touch screens refuses a request without this session's CSRF token."""

from __future__ import annotations

from pathlib import Path

from kiosk.app import close_app, create_app
from kiosk.state import get_ledger
from tests.kiosk_support import SUPERVISOR_PIN
from tests.kiosk_ui_support import SECRET, Kiosk, seed, ui_config

SAMPLE = {"piece_id": "PC-1", "tree_id": "TR-1", "job_id": "J-1", "action": "retry", "stage": "casting"}


def test_every_post_route_of_the_screens_checks_the_csrf_token(tmp_path: Path) -> None:
    app = create_app(ui_config(tmp_path), {"TESTING": True, "KIOSK_EVENTS": False, "KIOSK_LIVE": False,
                                           "SECRET_KEY": SECRET})
    try:
        with app.app_context():
            seed(get_ledger())
            before = [(p.piece_id, p.stage, p.version) for p in get_ledger().wip(["casting"])]
        kiosk = Kiosk(app, pin=SUPERVISOR_PIN)
        kiosk.scan("OP-SUP")
        routes = [rule for rule in app.url_map.iter_rules()
                  if "POST" in (rule.methods or set()) and not rule.rule.startswith("/api/")]
        assert len(routes) >= 8, [r.rule for r in routes]  # scan, logout, moves, trees, engraving, wip, …
        refused = {}
        for rule in routes:
            url = rule.rule
            for name in rule.arguments:
                url = url.replace(f"<{name}>", SAMPLE.get(name, "x"))
            response = kiosk.client.post(url, data={"to": "filing", "version": "4", "code": "PC-1",
                                                    "reason": "csrf probe", "safe": "yes", "note": "x"})
            refused[rule.rule] = response.status_code
        assert all(status == 400 for status in refused.values()), refused
        with app.app_context():
            assert [(p.piece_id, p.stage, p.version) for p in get_ledger().wip(["casting"])] == before
            assert not get_ledger().blocks()
    finally:
        close_app(app)
