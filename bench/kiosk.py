"""Ledger benchmark: advances per second and p50/p99 latency with N concurrent clients.

Each client advances its own production pieces stage by stage as a supervisor, either
directly on the ledger (``--via ledger``) or through the JSON API served by waitress
(``--via http``: ``benchpin kiosk`` in its own process, one keep-alive connection per
client; an advance there is one POST of the move with the ``from`` stage the client saw). Each
advance first records what a real floor would (the laser's job done at engraving, QC's passing
answers), inside the timing. Runs on SQLite (a temporary file) and,
when reachable, on PostgreSQL (a temporary schema, dropped afterwards).

    python bench/kiosk.py [--clients 20] [--advances 100] [--via ledger|http] [--postgres URL]
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.ledger import Ledger, PieceSpec  # noqa: E402
from kiosk.ledger.checks import passing_answers  # noqa: E402

STAGES_PER_PIECE = 11  # production route without enamel: design … shipped
TOKEN = "bench-token-0123456789abcdef"


def run_clients(clients: int, advances: int, advance: Callable[[int, str], object]) -> tuple[float, list[float]]:
    """Run ``clients`` threads each making ``advances`` advances; return (seconds, latencies)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def client(n: int) -> None:
        pieces = [f"PC-B{n:02d}-{i:04d}" for i in range(advances // STAGES_PER_PIECE + 1)]
        start_gate.wait()
        try:
            for k in range(advances):
                t0 = time.perf_counter()
                advance(n, pieces[k // STAGES_PER_PIECE])
                latencies[n].append(time.perf_counter() - t0)
        except BaseException as exc:  # report, do not hang the barrier
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed; first: {errors[0]!r}")
    return elapsed, [x for lat in latencies for x in lat]


def seed(ledger: Ledger, clients: int, advances: int) -> None:
    ledger.add_operator("OP-BENCH", "Bench", "supervisor")
    ledger.import_pieces([PieceSpec(f"PC-B{n:02d}-{i:04d}", "production")
                          for n in range(clients) for i in range(advances // STAGES_PER_PIECE + 1)])


def ready_to_leave(ledger: Ledger, piece_id: str) -> dict[str, object]:
    """Make the piece's stage ready to be left as on a real floor: the laser reports its job
    done, and QC answers the stage's checks so that they pass (returned for the move)."""
    job = ledger.laser_job(piece_id)
    if job is not None and job.state != "done":
        ledger.record_job(job.job_id, "done")
    piece = ledger.piece(piece_id)
    route = ledger.workflow.route(piece.route)
    if piece.stage not in {s.name for s in route.stages}:
        return {}
    return dict(passing_answers(route.stage(piece.stage).checks, piece))


def bench_ledger(url: str, clients: int, advances: int) -> tuple[float, list[float]]:
    with Ledger(url) as ledger:
        seed(ledger, clients, advances)
        return run_clients(clients, advances, lambda n, piece: ledger.advance(
            piece, operator="OP-BENCH", station="bench", checks=ready_to_leave(ledger, piece)))


def bench_http(url: str, clients: int, advances: int, workdir: Path) -> tuple[float, list[float]]:
    """Serve the API with ``benchpin kiosk`` (waitress, its own process) and advance through it."""
    from benchpin.broker import free_port

    token_file = workdir / "token"
    token_file.write_text(TOKEN)
    port = free_port()
    config = workdir / "station.toml"
    config.write_text(f'[site]\nid = "bench"\n[mqtt]\nport = {free_port()}\n[kiosk]\nstation = "casting"\n'
                      f'database = "{url}"\nlisten = "127.0.0.1:{port}"\napi_token_file = "{token_file}"\n'
                      f'outbox_file = "{workdir / "outbox.sqlite"}"\n')
    ledger = Ledger(url)  # the laser's reports and QC's answers, as the gateways would record them
    seed(ledger, clients, advances)
    route = ledger.workflow.route("production")
    server = subprocess.Popen([sys.executable, "-m", "benchpin", "--log-level", "ERROR", "kiosk",
                               "--config", str(config)], stderr=subprocess.DEVNULL)
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(clients)]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    stages: dict[str, str] = {}  # the stage each piece is at, as the client last saw it

    def advance(n: int, piece: str) -> None:
        conn = connections[n]
        stage = stages.get(piece, route.first(PieceSpec(piece, "production")))
        checks = ready_to_leave(ledger, piece)
        conn.request("POST", f"/api/pieces/{piece}/moves", headers=headers, body=json.dumps(
            {"to": route.next_stage(stage, PieceSpec(piece, "production")), "operator": "OP-BENCH",
             "from": stage, "checks": checks}))
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise RuntimeError(f"{response.status} {body!r}")
        stages[piece] = json.loads(body)["to"]

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the kiosk did not start") from None
                time.sleep(0.1)
        return run_clients(clients, advances, advance)
    finally:
        for conn in connections:
            conn.close()
        ledger.close()
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def report(name: str, elapsed: float, latencies: list[float]) -> None:
    cuts = statistics.quantiles(latencies, n=100)
    print(f"{name:<12} {len(latencies):>6} advances in {elapsed:6.2f} s = {len(latencies) / elapsed:7.0f}/s"
          f"   p50 {cuts[49] * 1000:6.1f} ms   p99 {cuts[98] * 1000:6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--advances", type=int, default=100, help="advances per client")
    parser.add_argument("--via", choices=("ledger", "http"), default="ledger")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"{args.clients} concurrent clients x {args.advances} advances, via {args.via}")
    with tempfile.TemporaryDirectory(prefix="benchpin-bench-") as tmp:
        workdir = Path(tmp)
        runs = [("sqlite", f"sqlite:///{workdir / 'ledger.sqlite'}")]
        schema = ""
        try:
            import psycopg

            schema = f"bp_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(args.postgres, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            runs.append(("postgresql", f"{args.postgres}?options=-csearch_path%3D{schema}"))
        except Exception as exc:  # PostgreSQL is optional for the benchmark
            print(f"postgresql   skipped: {exc}")
            schema = ""
        try:
            for name, url in runs:
                if args.via == "ledger":
                    elapsed, latencies = bench_ledger(url, args.clients, args.advances)
                else:
                    (workdir / name).mkdir()
                    elapsed, latencies = bench_http(url, args.clients, args.advances, workdir / name)
                report(name, elapsed, latencies)
        finally:
            if schema:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
