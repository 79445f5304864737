"""A private mosquitto broker on a free loopback port (for the demo, tests and benchmarks)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("mosquitto is not installed (apt-get install -y mosquitto)")


def end_process(process: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 10.0) -> None:
    """Stop a broker process: SIGTERM (or SIGKILL, a crash), then SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Mosquitto:
    """A mosquitto process of our own that can be stopped and started again on the same port.

    Persistence is on and ``max_queued_messages`` is unlimited, so a persistent-session
    subscriber misses nothing across a restart and a slow subscriber is never dropped by the
    broker. ``extra_config`` lines are appended (ACLs, password files, …).
    """

    def __init__(self, *, port: int | None = None, workdir: str | Path | None = None,
                 extra_config: str = "", persistence: bool = True) -> None:
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="benchpin-mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else it drops to 'mosquitto' and cannot write its persistence file
        if extra_config:
            lines.append(extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.running:
            return
        self.process = subprocess.Popen([find_mosquitto(), "-c", str(self.config_path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on port {self.port} within {timeout}s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM lets it save its persistence file; ``kill`` does not)."""
        if self.process is None:
            return
        end_process(self.process, kill=kill, timeout=10.0)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Mosquitto port={self.port} running={self.running}>"
