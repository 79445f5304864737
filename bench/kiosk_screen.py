"""Scan-to-screen latency: an MQTT scan published → the piece visible in Chromium.

A private mosquitto, the kiosk served by its production server (waitress) on a free port with
a seeded SQLite ledger, and headless Chromium showing the kiosk at 1280x800, badged in. Each
round publishes one scan of a different piece on ``<gw>/scanner/<scanner>/scan`` and takes
the time until the browser has swapped in that piece's screen and reached the next animation
frame (browser and publisher share the machine's clock). The path measured is the whole one:
broker → the kiosk's live feed → server-sent event → page → POST /scan → piece screen.

    python bench/kiosk_screen.py [--scans 220] [--warmup 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from benchpin.broker import Mosquitto  # noqa: E402
from benchpin.config import parse_config  # noqa: E402
from benchpin.topics import Topics, utc_ts  # noqa: E402
from kiosk.state import get_ledger  # noqa: E402
from kiosk.ledger import PieceSpec  # noqa: E402
from kiosk.server import KioskServer  # noqa: E402

PIECES = 40
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Record, per piece shown, the epoch time (ms) of the first animation frame after the swap.
RECORDER = """() => {
  window.__shown = {};
  document.addEventListener("kiosk:swapped", () => {
    const id = document.querySelector("#piece-id");
    if (!id) return;
    const code = id.textContent;
    requestAnimationFrame(() => { window.__shown[code] = performance.timeOrigin + performance.now(); });
  });
}"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=220, help="measured scans (default 220)")
    parser.add_argument("--warmup", type=int, default=10, help="scans before measuring (default 10)")
    args = parser.parse_args()
    topics = Topics("bench")
    with tempfile.TemporaryDirectory(prefix="kiosk-screen-") as tmp, \
            Mosquitto(workdir=Path(tmp) / "mosquitto") as broker:
        config = parse_config({"site": {"id": "bench"}, "mqtt": {"port": broker.port}, "kiosk": {
            "station": "casting", "database": f"sqlite:///{Path(tmp) / 'ledger.sqlite'}",
            "listen": "127.0.0.1:0", "gateway": "casting-1", "scanners": ["casting-1/bench-3"], "threads": 8}})
        with KioskServer(config, {"SECRET_KEY": uuid.uuid4().hex * 2}) as server:
            with server.app.app_context():
                ledger = get_ledger()
                ledger.add_operator("OP-BENCH", "Bench", "supervisor")
                ledger.import_pieces([PieceSpec(f"PC-S{n:04d}", "production", style="Bench ring",
                                                metal="silver_925") for n in range(PIECES)])
            publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}")
            publisher.connect("127.0.0.1", broker.port)
            publisher.loop_start()
            scan_topic = topics.scan("casting-1", "bench-3")

            def publish(topic: str, payload: dict[str, object]) -> None:
                publisher.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(server.url + "/")
                page.wait_for_function("document.documentElement.dataset.live === 'open'")
                # The kiosk's subscriptions are in place once a furnace reading reaches the page.
                deadline = time.monotonic() + 15
                while not page.locator("#furnace [data-probe]").count():
                    if time.monotonic() > deadline:
                        raise SystemExit("no furnace reading reached the page: is the live feed subscribed?")
                    publish(topics.temperature("casting-1", "f1"), {"ts": utc_ts(), "seq": 1, "value_c": 1000.0,
                                                                    "fault": None})
                    page.wait_for_timeout(100)
                page.keyboard.type("OP-BENCH\n")
                page.wait_for_selector("text=Bench")
                page.evaluate(RECORDER)
                latencies: list[float] = []
                for n in range(args.warmup + args.scans):
                    code = f"PC-S{n % PIECES:04d}"
                    page.evaluate("code => { delete window.__shown[code]; }", code)
                    sent = time.time() * 1000
                    publish(scan_topic, {"ts": utc_ts(), "seq": n, "code": code, "valid": True, "reason": None})
                    shown = page.wait_for_function("code => window.__shown[code]", arg=code, timeout=10_000)
                    if n >= args.warmup:
                        latencies.append(float(shown.json_value()) - sent)
                browser.close()
            publisher.loop_stop()
            publisher.disconnect()
    print(f"scan-to-screen over {len(latencies)} scans (Chromium, waitress, mosquitto; ms): "
          f"p50 {statistics.median(latencies):.1f}  p90 {percentile(latencies, 90):.1f}  "
          f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}  (target p99 <= 150)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
