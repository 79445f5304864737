"""What a device builder needs from the gateway, and nothing more.

The builders (:func:`gateway.probes.build_probes`, :func:`gateway.scanners.build_scanners`,
:func:`gateway.engravers.build_engravers`) take a :class:`Wiring` instead of the whole
:class:`~gateway.service.Gateway`, so they import nothing above them and a test can wire a
device to a bare outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from benchpin.outbox import Outbox
from benchpin.topics import Topics
from firmware_bridge.barcodes import BarcodeRules
from gateway.supervisor import Device, StateListener, Supervisor

MessageHandler = Callable[[str, bytes], None]


class AddDevice(Protocol):
    def __call__(self, device: Device, *, counters: Any = None,
                 when_state_changed: StateListener | None = None) -> Supervisor: ...


@dataclass(frozen=True)
class Wiring:
    """One gateway's outbox, topics and hardware factories, as the device builders use them."""

    gateway_id: str
    outbox: Outbox
    topics: Topics
    add_device: AddDevice
    subscribe: Callable[[str, MessageHandler], None]
    barcodes: BarcodeRules = field(default_factory=BarcodeRules)
    pin_factory: Any = None  # gpiozero's; None = the platform default
    usb_backend: Any = None  # pyusb's; None = libusb
    closers: list[Callable[[], None]] = field(default_factory=list)  # run after the devices stopped
    # Hand a retained QoS 1 message straight to the MQTT client, bypassing the outbox (which may
    # be refusing writes on a full disk); nothing is persisted. None: not available.
    publish_direct: Callable[[str, bytes], None] | None = None
