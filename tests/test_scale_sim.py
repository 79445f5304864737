"""The balance simulator speaks each family on a pty: settling, overload, drift, tare, unplug."""

from __future__ import annotations

from typing import Iterator

import pytest
import serial

from firmware_bridge.scales import BalanceError, CommandReply, ScaleLineFramer, Weight, protocol_for
from firmware_bridge.sim.scale import BalanceSim
from tests.helpers import wait_until

KINDS = ["mt-sics", "and", "ohaus"]


class Link:
    """The gateway's end of the cable, read as the gateway frames it."""

    def __init__(self, sim: BalanceSim) -> None:
        self.protocol = sim.protocol
        self.port = serial.Serial(str(sim.pty.link), 9600, timeout=0.05)
        self.framer = ScaleLineFramer(split_after=self.protocol.split_after)

    def ask(self, command: bytes, timeout: float = 3.0) -> object:
        self.port.write(command if command.endswith(b"\n") else command + b"\r\n")
        lines: list[bytes] = []
        wait_until(lambda: lines.extend(self.framer.feed(self.port.read(256))) or lines, timeout=timeout,
                   message=f"an answer to {command!r}")
        return self.protocol.parse_line(lines[0])

    def close(self) -> None:
        self.port.close()


@pytest.fixture(params=KINDS)
def sim(tmp_path, request) -> Iterator[BalanceSim]:
    balance = BalanceSim(str(tmp_path / "balance"), request.param, settle_s=2.0, speed=4.0, capacity_g=100.0)
    balance.start()
    yield balance
    balance.close()


@pytest.fixture
def link(sim) -> Iterator[Link]:
    cable = Link(sim)
    yield cable
    cable.close()


def test_sim_a_placed_load_reads_unstable_then_stable(sim, link):
    poll = sim.protocol.poll
    assert link.ask(poll) == Weight(0.0, True, 0.001)
    sim.place(42.5)
    first = link.ask(poll)
    assert isinstance(first, Weight) and not first.stable and first.grams != 42.5
    wait_until(lambda: sim.stable, message="settled")  # 2 s at speed 4: half a second
    assert link.ask(poll) == Weight(42.5, True, 0.001)


def test_sim_tare_and_zero_answer_as_the_family_does(sim, link):
    sim.place(10.0)
    assert isinstance(link.ask(sim.protocol.commands["tare"]), (CommandReply, BalanceError))  # unstable: refused
    assert sim.tares == 0
    wait_until(lambda: sim.stable, message="settled")
    reply = link.ask(sim.protocol.commands["tare"])
    assert isinstance(reply, CommandReply) and reply.done and sim.tares == 1
    assert link.ask(sim.protocol.poll) == Weight(0.0, True, 0.001)
    reply = link.ask(sim.protocol.commands["zero"])
    assert isinstance(reply, CommandReply) and reply.done and sim.zeros == 1


def test_sim_refuses_an_unknown_command(sim, link):
    assert isinstance(link.ask(b"XYZZY"), BalanceError)


@pytest.mark.parametrize("sim", ["mt-sics", "and"], indirect=True)
def test_sim_overload_and_underload(sim, link):
    sim.place(150.0)
    wait_until(lambda: sim.stable, message="settled")
    assert link.ask(sim.protocol.poll) == Weight(None, False, fault="overload")
    sim.place(0.0)
    wait_until(lambda: sim.stable, message="settled")
    reply = link.ask(sim.protocol.commands["zero"])
    assert isinstance(reply, CommandReply) and reply.done
    sim.place(-20.0)  # the pan lifted after zeroing with a load
    wait_until(lambda: sim.stable, message="settled")
    assert link.ask(sim.protocol.poll) == Weight(None, False, fault="underload")


@pytest.mark.parametrize("sim", ["ohaus"], indirect=True)
def test_sim_ohaus_prints_nothing_in_overload(sim, link):
    sim.place(150.0)
    wait_until(lambda: sim.stable, message="settled")
    with pytest.raises(AssertionError, match="timed out"):
        link.ask(sim.protocol.poll, timeout=0.5)


def test_sim_drift_moves_a_stable_reading(tmp_path):
    sim = BalanceSim(str(tmp_path / "balance"), "mt-sics", settle_s=0.0, drift_g_per_s=0.01, speed=10.0)
    first = protocol_for("mt-sics").parse_line(sim.reading())
    wait_until(lambda: protocol_for("mt-sics").parse_line(sim.reading()) != first, message="drift")
    sim.close()


@pytest.mark.parametrize("sim", ["mt-sics"], indirect=True)
def test_sim_unplug_closes_the_port_and_replug_answers_again(sim, link):
    sim.unplug()
    with pytest.raises(serial.SerialException):
        for _ in range(50):
            link.port.write(b"SI\r\n")
            link.port.read(64)
    link.close()
    sim.replug()
    again = Link(sim)
    assert isinstance(again.ask(b"SI"), Weight)
    again.close()


@pytest.mark.parametrize("sim", ["mt-sics"], indirect=True)
def test_sim_streams_on_sir_until_cancelled(sim, link):
    link.port.write(b"SIR\r\n")
    lines: list[bytes] = []
    wait_until(lambda: lines.extend(link.framer.feed(link.port.read(256))) or len(lines) >= 3, message="a stream")
    link.port.write(b"@\r\n")
    assert all(isinstance(sim.protocol.parse_line(x), Weight) for x in lines)
