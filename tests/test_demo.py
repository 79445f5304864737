"""``benchpin demo`` as a user runs it: scan, advance through engraving in Chromium, stop cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM, Subscriber, wait_until

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[1]


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (the demo's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def api_piece(url: str, token: str, piece_id: str) -> dict:
    request = urllib.request.Request(f"{url}api/pieces/{piece_id}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)


def control(workdir: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "benchpin", "demo", "--dir", str(workdir), *args],
                   check=True, cwd=ROOT, timeout=30, capture_output=True)


@pytest.mark.slow
def test_demo_scans_engraves_through_the_kiosk_and_stops_everything(tmp_path, artifacts_dir):
    workdir = tmp_path / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "benchpin", "demo", "--dir", str(workdir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            output.append(line)
            if "kiosk " in line and "http://" in line:
                url = line.split("http://", 1)[1].split()[0]
                url = f"http://{url}"
            if line.strip().startswith("try this"):
                break
        else:
            pytest.fail("the demo stopped before it was ready:\n" + "".join(output))
        text = "".join(output)
        assert "MQTT broker   127.0.0.1:" in text and "mosquitto_sub -h 127.0.0.1 -p" in text
        assert "OP-0006 (Sunita Devi, artisan) badges in to screens in Hindi" in text
        port = int(text.split("MQTT broker   127.0.0.1:", 1)[1].split()[0])
        status = Subscriber(port, "benchpin/demo/bench-1/status")
        token = (workdir / "api-token").read_text().strip()
        assert api_piece(url, token, "PC-0006")["stage"] == "plating"

        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(**CHROMIUM)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_function("document.documentElement.dataset.live === 'open'")
            expect = playwright_api.expect
            # The simulated serial scanner → gateway → MQTT → kiosk → the page, no reload.
            wait_until(lambda: control(workdir, "--scan", "OP-0005")
                       or page.locator(".badge").filter(has_text="Priya Nair").count(),
                       timeout=20, interval=1.0, message="badge-in through the simulated scanner")
            control(workdir, "--scan", "PC-0006")
            expect(page.locator("#piece-id")).to_have_text("PC-0006", timeout=10_000)
            expect(page.locator("#stage")).to_have_text("plating")
            page.screenshot(path=str(artifacts_dir / "demo-piece.png"))
            page.get_by_role("button", name="Advance to engraving").click()
            expect(page.locator("#stage")).to_have_text("engraving")
            # The kiosk dispatched the job; the laser engraves it; its `done` moves the piece on.
            wait_until(lambda: api_piece(url, token, "PC-0006")["stage"] == "qc", timeout=60,
                       message="the laser's done moving PC-0006 to qc")
            page.reload()
            expect(page.locator("#stage")).to_have_text("qc")
            expect(page.locator("#history tbody tr").first).to_contain_text("laser")
            page.screenshot(path=str(artifacts_dir / "demo-engraved.png"))
            # The Hindi-speaking artisan's badge: the screens speak Hindi for her session.
            wait_until(lambda: control(workdir, "--scan", "OP-0006")
                       or page.locator(".badge").filter(has_text="Sunita Devi").count(),
                       timeout=20, interval=1.0, message="the Hindi badge through the simulated scanner")
            expect(page.locator("html")).to_have_attribute("lang", "hi")
            expect(page.locator("main h1")).to_have_text("पीस या मोम ट्री स्कैन करें")
            page.screenshot(path=str(artifacts_dir / "demo-hindi.png"))
            browser.close()

        piece = api_piece(url, token, "PC-0006")
        assert piece["serial"]
        # The retained gateway status is refreshed while the demo runs, with live counters.
        refreshed = status.wait_for(lambda p: [s for s in p if s["state"] == "online"
                                               and s["devices"]["probe:furnace-1"]["readings"] > 0],
                                    timeout=15, message="a refreshed gateway status")
        status.close()
        assert refreshed[-1]["devices"]["engraver:laser-1"]["state"] == "up"
        gcode = wait_until(lambda: (workdir / "laser.gcode").exists() and (workdir / "laser.gcode").read_text(),
                           message="laser.gcode")
        lines = gcode.splitlines()
        assert any(line.startswith("M4") for line in lines) and "M5" in lines
        assert sum(1 for line in lines if line.startswith("G1")) > 20  # strokes of the serial's glyphs
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            rest = demo.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            demo.kill()
            rest = demo.communicate()[0]
    assert demo.returncode == 0, "".join(output) + (rest or "")
    assert "benchpin demo stopped." in rest
    wait_until(lambda: not processes_mentioning(str(workdir)), timeout=10,
               message=f"no process left: {processes_mentioning(str(workdir))}")
