"""Station configuration: one TOML file parsed once into frozen dataclasses.

The dataclasses below are the config contract; each field's default is the key's default.
:func:`parse_config` checks the shape of every section (types, ranges, choices, topic
segments). Checks that need an area's own code (the kiosk's routes, the gateway's devices)
live in that area and are handed in as ``checks``: each gets the parsed
:class:`StationConfig` and a reporter taking a key path and a message. Every problem is
reported with its key path (``gateway.probes[1].baudrate: must be an integer``) and all
problems are collected before :class:`ConfigError` is raised, so a user fixes a file in one
pass.
"""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchpin.contract import METALS, is_segment
from benchpin.tables import Table
from firmware_bridge.barcodes import CHECK_DIGIT_SCHEMES, BarcodeRules
from firmware_bridge.hid import LAYOUTS

DEFAULT_CONFIG_PATH = "/etc/benchpin/station.toml"

# The kiosk's screens speak these: ``kiosk.language`` and each operator's own (``operators add --lang``).
LANGUAGES = ("en", "hi", "th")


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists each one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# ----------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class SiteConfig:
    id: str
    timezone: str = "UTC"  # IANA name: how the screens show times (the ledger keeps UTC)


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password_file: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    keepalive_s: int = 30
    max_packet_bytes: int = 65536  # the broker's max_packet_size: bigger messages are refused at put

    def password(self) -> str | None:
        """Read the password from ``password_file`` (never stored in the config itself)."""
        if not self.password_file:
            return None
        return Path(self.password_file).read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class ProbeConfig:
    id: str
    kind: str  # "serial" | "max31855"
    port: str = ""
    baudrate: int = 9600
    channel: int = 1
    stall_timeout_s: float = 10.0
    spi_port: int = 0
    spi_device: int = 0
    interval_s: float = 1.0


@dataclass(frozen=True)
class ScannerConfig:
    id: str
    kind: str  # "serial" | "usb-hid"
    port: str = ""
    baudrate: int = 9600
    vendor_id: int = 0
    product_id: int = 0
    serial_number: str = ""
    bus_path: str = ""
    dedupe_s: float = 1.5
    prefix: str = ""  # serial: stripped from the start of every line (e.g. "\u0002", STX)
    suffix: str = ""  # serial: stripped from the end of every line (e.g. "\u0003", ETX)
    idle_s: float = 0.3  # a code started and not ended after this silence is dropped
    layout: str = "us"  # usb-hid: keyboard layout the scanner types in
    interface: int = -1  # usb-hid: interface number; -1 = the boot keyboard interface
    endpoint: int = 0  # usb-hid: interrupt IN endpoint address; 0 = the interface's first


@dataclass(frozen=True)
class ScaleConfig:
    id: str
    kind: str  # "mt-sics" | "and" | "ohaus"
    port: str
    baudrate: int = 9600
    parity: str = "N"  # "N" | "E" | "O"; A&D balances ship 2400 baud, 7 bits, even parity
    bytesize: int = 8  # 7 | 8
    poll_s: float = 0.5  # how often the gateway asks for the weight
    unstable_timeout_s: float = 30.0  # unstable this long: fault unstable_timeout
    stall_timeout_s: float = 5.0  # no answer this long: disconnected, reopened


@dataclass(frozen=True)
class MaterialConfig:
    """Laser power ``S`` (0..GRBL's $30) and feed in mm/min that mark one material."""

    power: int
    feed_mm_min: float


# Starting points for a diode/fibre laser with $30=1000; calibrate per machine. The plated
# materials get less energy: 2.5 µm of vermeil gold or 2 µm on brass must not be burned through.
DEFAULT_MATERIALS: dict[str, MaterialConfig] = {
    "silver_925": MaterialConfig(power=800, feed_mm_min=600.0),
    "vermeil_18ct": MaterialConfig(power=450, feed_mm_min=900.0),
    "gold_plated_brass": MaterialConfig(power=350, feed_mm_min=1200.0),
    # Solid golds and platinum (the bespoke route's metals): no plating to spare, more energy.
    "gold_9ct": MaterialConfig(power=650, feed_mm_min=750.0),
    "gold_14ct": MaterialConfig(power=700, feed_mm_min=700.0),
    "gold_18ct": MaterialConfig(power=700, feed_mm_min=700.0),
    "platinum_950": MaterialConfig(power=900, feed_mm_min=500.0),
}


@dataclass(frozen=True)
class EngraverConfig:
    id: str
    port: str
    baudrate: int = 115200
    door_pin: int | None = None
    materials: tuple[tuple[str, MaterialConfig], ...] = tuple(DEFAULT_MATERIALS.items())
    cap_height_mm: float = 1.0  # a job's height_mm wins
    max_width_mm: float = 20.0
    min_cap_height_mm: float = 0.3
    origin_x_mm: float = 0.0
    origin_y_mm: float = 0.0
    direction: str = "+x"  # "+x" | "-x" | "+y" | "-y": the way text runs on the bed
    status_interval_s: float = 0.2  # how often the gateway asks GRBL for "?" status
    reply_timeout_s: float = 10.0  # no reply for this long while streaming: the link is stalled
    job_retain_s: float = 86400.0  # a finished job's retained state is cleared after this long

    def material(self, name: str) -> MaterialConfig | None:
        return dict(self.materials).get(name)


@dataclass(frozen=True)
class OutboxConfig:
    max_messages: int = 1_000_000
    replay_rate: float = 50_000.0  # messages/s handed to the broker at most; 0 = unbounded
    window: int = 1000  # unacknowledged QoS 1 messages in flight at most (paho keys them by 16-bit id)
    synchronous: str = "full"  # SQLite synchronous: "full" survives power cuts
    commit_interval_ms: float = 250.0  # telemetry is on disk or acknowledged within this


@dataclass(frozen=True)
class IndicatorConfig:
    """A stack light (green, amber, red LEDs and an optional buzzer) following one probe."""

    id: str
    probe: str  # the id of a probe of this gateway
    green: int
    amber: int
    red: int
    buzzer: int | None = None
    beep_s: float = 0.2  # how long the buzzer sounds when the furnace enters the window (0: silent)


@dataclass(frozen=True)
class GatewayConfig:
    id: str
    state_dir: str = "/var/lib/benchpin"
    probes: tuple[ProbeConfig, ...] = ()
    scanners: tuple[ScannerConfig, ...] = ()
    engravers: tuple[EngraverConfig, ...] = ()
    scales: tuple[ScaleConfig, ...] = ()
    indicators: tuple[IndicatorConfig, ...] = ()
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    status_interval_s: float = 10.0
    ready_timeout_s: float = 60.0  # tell systemd READY=1 (degraded) after this even if not all is up


@dataclass(frozen=True)
class DeviceRef:
    """A device on a gateway, written ``GATEWAY/DEVICE`` in the config (two topic segments)."""

    gateway: str
    device: str

    def __str__(self) -> str:
        return f"{self.gateway}/{self.device}"


@dataclass(frozen=True)
class KioskConfig:
    station: str  # as written: one stage or a comma list ("filing,decoration"); see ``stations``
    database: str = "sqlite:////var/lib/benchpin/ledger.sqlite"
    listen: str = "0.0.0.0:8080"
    api_token_file: str = ""
    routes_file: str = ""  # "" = the packaged default routes
    serial_pattern: str = "BP-{year}-{seq:06d}"
    engraver: str = ""  # "<gateway>/<engraver>" that engraves pieces entering engraving
    engrave_height_mm: float = 1.0
    outbox_file: str = ""  # "" = kiosk-outbox.sqlite next to a SQLite ledger
    gateway: str = ""  # the station's gateway: its scans and furnace temperatures reach the screens
    idle_logout_s: float = 300.0  # badge session ends after this long without a touch or scan
    threads: int = 32  # waitress worker threads; each open screen's live stream holds one
    max_streams: int = 8  # live streams open at once (at most half of ``threads``); 503 beyond
    screen_addresses: tuple[str, ...] = ("127.0.0.1", "::1")  # this kiosk's own screens: live before badge-in
    secret_key_file: str = ""  # "" = a random key per start (badge sessions end on restart)
    stations: tuple[str, ...] = ()  # the stages ``station`` names, in its order
    engraver_ref: DeviceRef | None = None  # ``engraver`` parsed; None when not set
    scanners: tuple[DeviceRef, ...] = ()  # the only scanners whose scans this kiosk acts on; () = none
    id: str = ""  # topic- and client-id-safe; "" in the file = derived from the stations
    name: str = ""  # what the header shows; "" in the file = the stations as words
    scale: str = ""  # "<gateway>/<scale>" whose stable weight the moves at weighed stages record
    furnace: str = "furnace-1"  # the probe of ``gateway`` whose pour window a tree scanned at casting sets
    history_raw_days: float = 7.0  # furnace readings kept as received; then per minute
    history_days: float = 365.0  # per-minute furnace history kept this long
    history_flush_s: float = 60.0  # furnace readings are written this often, in one transaction
    scale_ref: DeviceRef | None = None  # ``scale`` parsed; None when not set
    language: str = "en"  # the screens' language when nobody, or an operator without one, is badged in


PRINTER_KINDS = ("zpl-usb", "zpl-tcp", "zpl-serial", "pdf", "png")


@dataclass(frozen=True)
class PrinterConfig:
    """A label printer: ZPL II over USB, TCP (raw port 9100) or serial, or PDF/PNG files."""

    name: str
    kind: str  # one of PRINTER_KINDS
    vendor_id: int = 0  # zpl-usb
    product_id: int = 0
    host: str = ""  # zpl-tcp
    port: int = 9100
    device: str = ""  # zpl-serial
    baudrate: int = 9600
    directory: str = ""  # pdf | png: where the files go (e.g. a print server's watched folder)
    dpi: int = 203
    width_mm: float = 57.0  # the common 2.25" x 1.25" job-bag label
    height_mm: float = 32.0
    timeout_s: float = 10.0


@dataclass(frozen=True)
class LabelsConfig:
    printers: tuple[PrinterConfig, ...] = ()  # the first is the default printer
    datamatrix: bool = False  # a Data Matrix of the id beside the Code 128 on every label

    def printer(self, name: str) -> PrinterConfig | None:
        return next((p for p in self.printers if p.name == name), None)


@dataclass(frozen=True)
class StationConfig:
    site: SiteConfig
    mqtt: MqttConfig
    gateway: GatewayConfig | None = None
    kiosk: KioskConfig | None = None
    barcodes: BarcodeRules = field(default_factory=BarcodeRules)
    source: str = ""
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    metals: Mapping[str, MetalSettings] = field(default_factory=lambda: dict(DEFAULT_METALS))


@dataclass(frozen=True)
class MetalSettings:
    """One metal of the site's metals table: fine content and the furnace's pour window."""

    fineness: float
    pour_c: tuple[float, float]


# Pour windows: the alloy's melting point (liquidus) plus a superheat of roughly 50-120 °C, the
# range casting suppliers give for vacuum-assist flask casting (see docs/configuration.md).
# A starting point: a workshop sets its alloy supplier's figures in [metals.<name>].
_POUR_C = {"silver_925": (950.0, 1010.0), "vermeil_18ct": (950.0, 1010.0), "gold_plated_brass": (960.0, 1040.0),
           "gold_9ct": (930.0, 1000.0), "gold_14ct": (930.0, 1000.0), "gold_18ct": (960.0, 1030.0),
           "platinum_950": (1850.0, 1950.0)}
DEFAULT_METALS: Mapping[str, MetalSettings] = {
    name: MetalSettings(fineness=metal.fineness, pour_c=_POUR_C.get(name, (0.0, 0.0))) for name, metal in METALS.items()}


Report = Callable[[str, str], None]
"""Record a problem: the key path (``kiosk.station``) and what is wrong with it."""

ConfigCheck = Callable[[StationConfig, Report], None]
"""A check beyond the shape of the file, run on the parsed config (see :func:`parse_config`)."""



def parse_device_ref(value: str) -> DeviceRef | None:
    """Parse ``GATEWAY/DEVICE`` (two topic segments), or None if it is not that."""
    gateway, slash, device = value.partition("/")
    if not slash or not is_segment(gateway) or not is_segment(device):
        return None
    return DeviceRef(gateway, device)


# Instances holding every default: the parser reads defaults from here, so each is stated once
# (in the dataclass field). Required fields get placeholders that are never used.
_MQTT = MqttConfig()
_PROBE = ProbeConfig(id="", kind="")
_SCANNER = ScannerConfig(id="", kind="")
_ENGRAVER = EngraverConfig(id="", port="")
_SCALE = ScaleConfig(id="", kind="", port="")
_OUTBOX = OutboxConfig()
_GATEWAY = GatewayConfig(id="")
_KIOSK = KioskConfig(station="")
_BARCODES = BarcodeRules()
_PRINTER = PrinterConfig(name="", kind="")


def _segment(t: Table, key: str) -> str:
    """Read an id that becomes an MQTT topic segment (no '/', '+', '#', spaces)."""
    value = t.text(key, nonempty=True)
    if value and not is_segment(value):
        t.problem(key, f"must use only letters, digits, '-', '_' and '.' (it becomes a topic segment; got {value!r})")
    return value


def _unique_ids(parent: Table, key: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            parent.problems.append(f"{parent.path_of(key)}[{i}].id: duplicate id {ident!r}")
        seen.add(ident)


def _parse_probe(t: Table) -> ProbeConfig:
    d = _PROBE
    kind = t.text("kind", choices=("serial", "max31855"))
    probe = ProbeConfig(
        id=_segment(t, "id"),
        kind=kind,
        port=t.text("port", d.port),
        baudrate=t.integer("baudrate", d.baudrate, min=50, max=4_000_000),
        channel=t.integer("channel", d.channel, min=0, max=99),
        stall_timeout_s=t.number("stall_timeout_s", d.stall_timeout_s, min=0.1),
        spi_port=t.integer("spi_port", d.spi_port, min=0),
        spi_device=t.integer("spi_device", d.spi_device, min=0),
        interval_s=t.number("interval_s", d.interval_s, min=0.01),
    )
    if kind == "serial" and not probe.port:
        t.problem("port", "is required for a serial probe")
    t.done()
    return probe


def _parse_indicator(t: Table, probes: list[str]) -> IndicatorConfig:
    indicator = IndicatorConfig(
        id=_segment(t, "id"),
        probe=t.text("probe", nonempty=True),
        green=t.integer("green", min=0, max=53),
        amber=t.integer("amber", min=0, max=53),
        red=t.integer("red", min=0, max=53),
        buzzer=t.optional_integer("buzzer", min=0, max=53),
        beep_s=t.number("beep_s", IndicatorConfig.beep_s, min=0.0, max=10.0),
    )
    if indicator.probe and indicator.probe not in probes:
        t.problem("probe", f"names no probe of this gateway: {indicator.probe!r} "
                           f"(probes: {', '.join(repr(p) for p in probes) or 'none'})")
    t.done()
    return indicator


def _parse_scanner(t: Table) -> ScannerConfig:
    d = _SCANNER
    kind = t.text("kind", choices=("serial", "usb-hid"))
    scanner = ScannerConfig(
        id=_segment(t, "id"),
        kind=kind,
        port=t.text("port", d.port),
        baudrate=t.integer("baudrate", d.baudrate, min=50, max=4_000_000),
        vendor_id=t.integer("vendor_id", d.vendor_id, min=0, max=0xFFFF),
        product_id=t.integer("product_id", d.product_id, min=0, max=0xFFFF),
        serial_number=t.text("serial_number", d.serial_number),
        bus_path=t.text("bus_path", d.bus_path),
        dedupe_s=t.number("dedupe_s", d.dedupe_s, min=0.0),
        prefix=t.text("prefix", d.prefix),
        suffix=t.text("suffix", d.suffix),
        idle_s=t.number("idle_s", d.idle_s, min=0.01),
        layout=t.text("layout", d.layout, choices=tuple(LAYOUTS)),
        interface=t.integer("interface", d.interface, min=-1, max=255),
        endpoint=t.integer("endpoint", d.endpoint, min=0, max=0xFF),
    )
    for key, value in (("prefix", scanner.prefix), ("suffix", scanner.suffix)):
        if not value.isascii():
            t.problem(key, f"must be ASCII (got {value!r})")
    if scanner.endpoint and not scanner.endpoint & 0x80:
        t.problem("endpoint", f"must be an IN endpoint address (0x81..0x8F; got {scanner.endpoint:#04x})")
    if kind == "serial" and not scanner.port:
        t.problem("port", "is required for a serial scanner")
    if kind == "usb-hid" and not (scanner.vendor_id and scanner.product_id):
        t.problem("vendor_id", "vendor_id and product_id are required for a usb-hid scanner")
    t.done()
    return scanner


def _parse_materials(t: Table | None) -> tuple[tuple[str, MaterialConfig], ...]:
    if t is None:
        return _ENGRAVER.materials
    materials = []
    for name in t.keys():
        m = t.table(name)
        assert m is not None  # the key is there: table() only returns None for an absent key
        materials.append((name, MaterialConfig(power=m.integer("power", min=0, max=100_000),
                                               feed_mm_min=m.number("feed_mm_min", min=1.0))))
        m.done()
    if not materials:
        t.problem("", "must name at least one material")
    return tuple(materials)


def _parse_barcodes(t: Table | None) -> BarcodeRules:
    d = _BARCODES
    if t is None:
        return d
    rules = BarcodeRules(
        prefixes=t.texts("prefixes", d.prefixes),
        check_digit=t.text("check_digit", d.check_digit, choices=CHECK_DIGIT_SCHEMES),
        check_digit_exempt=t.texts("check_digit_exempt", d.check_digit_exempt),
    )
    if not rules.prefixes:
        t.problem("prefixes", "must name at least one prefix")
    t.done()
    return rules


def _parse_printer(t: Table) -> PrinterConfig:
    d = _PRINTER
    kind = t.text("kind", choices=PRINTER_KINDS)
    printer = PrinterConfig(
        name=_segment(t, "name"),
        kind=kind,
        vendor_id=t.integer("vendor_id", d.vendor_id, min=0, max=0xFFFF),
        product_id=t.integer("product_id", d.product_id, min=0, max=0xFFFF),
        host=t.text("host", d.host),
        port=t.integer("port", d.port, min=1, max=65535),
        device=t.text("device", d.device),
        baudrate=t.integer("baudrate", d.baudrate, min=50, max=4_000_000),
        directory=t.text("directory", d.directory),
        dpi=t.integer("dpi", d.dpi, min=100, max=1200),
        width_mm=t.number("width_mm", d.width_mm, min=10.0, max=220.0),
        height_mm=t.number("height_mm", d.height_mm, min=5.0, max=500.0),
        timeout_s=t.number("timeout_s", d.timeout_s, min=0.1, max=300.0),
    )
    required = {"zpl-usb": ("vendor_id", printer.vendor_id and printer.product_id, "vendor_id and product_id"),
                "zpl-tcp": ("host", printer.host, "host"), "zpl-serial": ("device", printer.device, "device"),
                "pdf": ("directory", printer.directory, "directory"),
                "png": ("directory", printer.directory, "directory")}
    if kind in required:
        key, given, what = required[kind]
        if not given:
            t.problem(key, f"{what} {'are' if ' and ' in what else 'is'} required for a {kind} printer")
    t.done()
    return printer


def _parse_labels(t: Table | None) -> LabelsConfig:
    if t is None:
        return LabelsConfig()
    printers = [_parse_printer(p) for p in t.tables("printers")]
    seen: set[str] = set()
    for i, printer in enumerate(printers):
        if printer.name in seen:
            t.problems.append(f"{t.path_of('printers')}[{i}].name: duplicate name {printer.name!r}")
        seen.add(printer.name)
    datamatrix = t.flag("datamatrix", LabelsConfig.datamatrix)
    t.done()
    return LabelsConfig(printers=tuple(printers), datamatrix=datamatrix)


def _parse_engraver(t: Table) -> EngraverConfig:
    d = _ENGRAVER
    engraver = EngraverConfig(
        id=_segment(t, "id"),
        port=t.text("port", nonempty=True),
        baudrate=t.integer("baudrate", d.baudrate, min=50, max=4_000_000),
        door_pin=t.optional_integer("door_pin", min=0, max=53),
        materials=_parse_materials(t.table("materials")),
        cap_height_mm=t.number("cap_height_mm", d.cap_height_mm, min=0.1, max=50.0),
        max_width_mm=t.number("max_width_mm", d.max_width_mm, min=1.0, max=1000.0),
        min_cap_height_mm=t.number("min_cap_height_mm", d.min_cap_height_mm, min=0.05),
        origin_x_mm=t.number("origin_x_mm", d.origin_x_mm),
        origin_y_mm=t.number("origin_y_mm", d.origin_y_mm),
        direction=t.text("direction", d.direction, choices=("+x", "-x", "+y", "-y")),
        status_interval_s=t.number("status_interval_s", d.status_interval_s, min=0.02, max=5.0),
        reply_timeout_s=t.number("reply_timeout_s", d.reply_timeout_s, min=0.5),
        job_retain_s=t.number("job_retain_s", d.job_retain_s, min=0.5),
    )
    t.done()
    return engraver


def _parse_scale(t: Table) -> ScaleConfig:
    d = _SCALE
    scale = ScaleConfig(
        id=_segment(t, "id"),
        kind=t.text("kind", choices=("mt-sics", "and", "ohaus")),
        port=t.text("port", nonempty=True),
        baudrate=t.integer("baudrate", d.baudrate, min=50, max=4_000_000),
        parity=t.text("parity", d.parity, choices=("N", "E", "O")),
        bytesize=t.integer("bytesize", d.bytesize, min=7, max=8),
        poll_s=t.number("poll_s", d.poll_s, min=0.05, max=60.0),
        unstable_timeout_s=t.number("unstable_timeout_s", d.unstable_timeout_s, min=0.1),
        stall_timeout_s=t.number("stall_timeout_s", d.stall_timeout_s, min=0.1),
    )
    if scale.stall_timeout_s <= scale.poll_s:
        t.problem("stall_timeout_s", f"must be longer than poll_s ({scale.poll_s:g}): the balance answers once per poll")
    if scale.bytesize == 7 and scale.parity == "N":
        t.problem("parity", "must be \"E\" or \"O\" with bytesize = 7 (a balance sends 7 data bits with a parity bit)")
    t.done()
    return scale


def _parse_outbox(t: Table | None) -> OutboxConfig:
    d = _OUTBOX
    if t is None:
        return d
    outbox = OutboxConfig(
        max_messages=t.integer("max_messages", d.max_messages, min=100),
        replay_rate=t.number("replay_rate", d.replay_rate, min=0.0),
        window=t.integer("window", d.window, min=1, max=60_000),
        synchronous=t.text("synchronous", d.synchronous, choices=("full", "normal")),
        commit_interval_ms=t.number("commit_interval_ms", d.commit_interval_ms, min=0.0, max=60_000.0),
    )
    t.done()
    return outbox


def _parse_gateway(t: Table) -> GatewayConfig:
    d = _GATEWAY
    probes = [_parse_probe(p) for p in t.tables("probes")]
    scanners = [_parse_scanner(s) for s in t.tables("scanners")]
    engravers = [_parse_engraver(e) for e in t.tables("engravers")]
    scales = [_parse_scale(s) for s in t.tables("scales")]
    indicators = [_parse_indicator(i, [p.id for p in probes]) for i in t.tables("indicators")]
    for key, ids in (("probes", [p.id for p in probes]), ("scanners", [s.id for s in scanners]),
                     ("engravers", [e.id for e in engravers]), ("scales", [s.id for s in scales]),
                     ("indicators", [i.id for i in indicators])):
        _unique_ids(t, key, ids)
    gateway = GatewayConfig(
        id=_segment(t, "id"),
        state_dir=t.text("state_dir", d.state_dir, nonempty=True),
        probes=tuple(probes),
        scanners=tuple(scanners),
        engravers=tuple(engravers),
        scales=tuple(scales),
        indicators=tuple(indicators),
        outbox=_parse_outbox(t.table("outbox")),
        backoff_initial_s=t.number("backoff_initial_s", d.backoff_initial_s, min=0.01),
        backoff_max_s=t.number("backoff_max_s", d.backoff_max_s, min=0.1),
        status_interval_s=t.number("status_interval_s", d.status_interval_s, min=0.1),
        ready_timeout_s=t.number("ready_timeout_s", d.ready_timeout_s, min=0.0),
    )
    t.done()
    return gateway


def _device_refs(t: Table, key: str, example: str) -> tuple[DeviceRef, ...]:
    """Read a list of ``GATEWAY/DEVICE`` strings, each problem under ``key[i]``."""
    value = t.value(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        t.problem(key, f"must be a list of GATEWAY/DEVICE strings, e.g. [{example!r}]")
        return ()
    refs = []
    for i, item in enumerate(value):
        ref = parse_device_ref(item) if isinstance(item, str) else None
        if ref is None:
            t.problem(f"{key}[{i}]", f"must be GATEWAY/DEVICE, e.g. {example!r} (got {item!r})")
        else:
            refs.append(ref)
    return tuple(refs)


def derived_kiosk_id(stations: tuple[str, ...]) -> str:
    """Make a kiosk id from the stages it serves (``filing,decoration`` → ``filing-decoration``)."""
    safe = "".join(c if c in "abcdefghijklmnopqrstuvwxyz0123456789_" else "-" for c in "-".join(stations).lower())
    return safe.strip("-")[:64].rstrip("-") or "kiosk"


def _parse_kiosk(t: Table) -> KioskConfig:
    d = _KIOSK
    station = t.text("station", nonempty=True)
    engraver = t.text("engraver", d.engraver)
    engraver_ref = parse_device_ref(engraver) if engraver else None
    if engraver and engraver_ref is None:
        t.problem("engraver", f"must be GATEWAY/ENGRAVER, e.g. 'casting-1/laser-1' (got {engraver!r})")
    scale = t.text("scale", d.scale)
    scale_ref = parse_device_ref(scale) if scale else None
    if scale and scale_ref is None:
        t.problem("scale", f"must be GATEWAY/SCALE, e.g. 'bench-1/balance-1' (got {scale!r})")
    kiosk = KioskConfig(
        station=station,
        database=t.text("database", d.database, nonempty=True),
        listen=t.text("listen", d.listen, nonempty=True),
        api_token_file=t.text("api_token_file", d.api_token_file),
        routes_file=t.text("routes_file", d.routes_file),
        serial_pattern=t.text("serial_pattern", d.serial_pattern, nonempty=True),
        engraver=engraver,
        engrave_height_mm=t.number("engrave_height_mm", d.engrave_height_mm, min=0.1, max=20.0),
        outbox_file=t.text("outbox_file", d.outbox_file),
        gateway=t.text("gateway", d.gateway),
        idle_logout_s=t.number("idle_logout_s", d.idle_logout_s, min=5.0, max=86400.0),
        threads=t.integer("threads", d.threads, min=4, max=512),
        max_streams=t.integer("max_streams", d.max_streams, min=1, max=256),
        screen_addresses=t.texts("screen_addresses", d.screen_addresses),
        secret_key_file=t.text("secret_key_file", d.secret_key_file),
        stations=tuple(s.strip() for s in station.split(",") if s.strip()),
        engraver_ref=engraver_ref,
        scanners=_device_refs(t, "scanners", "bench-1/bench-scanner"),
        id=t.text("id", d.id),
        name=t.text("name", d.name),
        scale=scale,
        scale_ref=scale_ref,
        furnace=t.text("furnace", d.furnace, nonempty=True),
        history_raw_days=t.number("history_raw_days", d.history_raw_days, min=0.01, max=3650.0),
        history_days=t.number("history_days", d.history_days, min=1.0, max=36500.0),
        history_flush_s=t.number("history_flush_s", d.history_flush_s, min=1.0, max=3600.0),
        language=t.text("language", d.language, choices=LANGUAGES),
    )
    if kiosk.id and not is_segment(kiosk.id):
        t.problem("id", f"must be 1 to 64 letters, digits, '-', '_' or '.' (it names the kiosk's MQTT topics; "
                        f"got {kiosk.id!r})")
    if len(kiosk.name) > 40:
        t.problem("name", f"must be at most 40 characters (the header of a 7-inch screen; got {len(kiosk.name)})")
    kiosk = replace(kiosk, id=kiosk.id or derived_kiosk_id(kiosk.stations),
                    name=kiosk.name or ", ".join(s.replace("_", " ") for s in kiosk.stations))
    if kiosk.gateway and not is_segment(kiosk.gateway):
        t.problem("gateway", f"must be a gateway id (letters, digits, '-', '_', '.'; got {kiosk.gateway!r})")
    if not kiosk.database.startswith(("sqlite://", "postgresql://", "postgres://")):
        t.problem("database", f"must be a sqlite:/// or postgresql:// URL (got {kiosk.database!r})")
    listen = kiosk.listen
    if ":" not in listen or not listen.rsplit(":", 1)[1].isdigit():
        t.problem("listen", f"must be HOST:PORT (got {listen!r})")
    t.done()
    return kiosk


def _parse_mqtt(t: Table | None) -> MqttConfig:
    d = _MQTT
    if t is None:
        return d
    mqtt = MqttConfig(
        host=t.text("host", d.host, nonempty=True),
        port=t.integer("port", d.port, min=1, max=65535),
        username=t.text("username", d.username),
        password_file=t.text("password_file", d.password_file),
        tls=t.flag("tls", d.tls),
        ca_file=t.text("ca_file", d.ca_file),
        cert_file=t.text("cert_file", d.cert_file),
        key_file=t.text("key_file", d.key_file),
        keepalive_s=t.integer("keepalive_s", d.keepalive_s, min=5, max=3600),
        max_packet_bytes=t.integer("max_packet_bytes", d.max_packet_bytes, min=1024, max=268_435_455),
    )
    if t.has("password"):
        t.value("password")  # read, so it is not also reported as an unknown key
        t.problem("password", "put the password in a file and name it in mqtt.password_file")
    for key, value in (("password_file", mqtt.password_file), ("ca_file", mqtt.ca_file),
                       ("cert_file", mqtt.cert_file), ("key_file", mqtt.key_file)):
        if value and not Path(value).is_file():
            t.problem(key, f"file not found: {value}")
    t.done()
    return mqtt


def _parse_metals(t: Table | None) -> Mapping[str, MetalSettings]:
    """``[metals.<name>]``: a known metal's ``fineness`` (0..1) and ``pour_c = [min, max]`` (°C)."""
    metals = dict(DEFAULT_METALS)
    if t is None:
        return metals
    for name in t.keys():
        one = t.table(name)
        if name not in METALS:
            t.problem(name, f"unknown metal (one of {', '.join(METALS)})")
            continue
        if one is None:
            continue
        known = metals[name]
        fineness = one.number("fineness", known.fineness, min=0.0, max=1.0)
        pour = known.pour_c
        raw = one.value("pour_c")
        if raw is not None:
            if (isinstance(raw, list) and len(raw) == 2
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
                    and 0 < raw[0] < raw[1] <= 3000):
                pour = (float(raw[0]), float(raw[1]))
            else:
                one.problem("pour_c", f"must be [min, max] in °C with 0 < min < max <= 3000 (got {raw!r})")
        one.done()
        metals[name] = MetalSettings(fineness=fineness, pour_c=pour)
    return metals


def _timezone(t: Table) -> str:
    """``site.timezone``: an IANA time zone name this machine knows (``Asia/Kolkata``)."""
    name = t.text("timezone", SiteConfig.timezone)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        t.problem("timezone", f"unknown time zone {name!r}: use an IANA name such as 'Asia/Kolkata' or 'UTC'")
        return SiteConfig.timezone
    return name


def parse_config(data: dict[str, Any], *, source: str = "", checks: Iterable[ConfigCheck] = ()) -> StationConfig:
    """Turn a parsed TOML document into a :class:`StationConfig` or raise :class:`ConfigError`.

    ``checks`` run on the parsed config even when its shape has problems (a bad value reads as
    its default), so one run lists every problem.
    """
    problems: list[str] = []
    root = Table(data, "", problems)
    site_t = root.table("site", required=True)
    site = SiteConfig(id=_segment(site_t, "id"), timezone=_timezone(site_t)) if site_t else SiteConfig(id="")
    if site_t:
        site_t.done()
    mqtt = _parse_mqtt(root.table("mqtt"))
    gateway_t = root.table("gateway")
    gateway = _parse_gateway(gateway_t) if gateway_t else None
    kiosk_t = root.table("kiosk")
    kiosk = _parse_kiosk(kiosk_t) if kiosk_t else None
    barcodes = _parse_barcodes(root.table("barcodes"))
    labels = _parse_labels(root.table("labels"))
    metals = _parse_metals(root.table("metals"))
    root.done()
    config = StationConfig(site=site, mqtt=mqtt, gateway=gateway, kiosk=kiosk, barcodes=barcodes,
                           source=source, labels=labels, metals=metals)

    def report(path: str, message: str) -> None:
        problems.append(f"{path}: {message}")

    for check in checks:
        check(config, report)
    if problems:
        raise ConfigError(problems)
    return config


def load_config(path: str | os.PathLike[str], *, checks: Iterable[ConfigCheck] = ()) -> StationConfig:
    """Read and validate a station config file, running ``checks`` on it too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc}"]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse_config(data, source=str(path), checks=checks)


def default_config_path() -> str:
    """Return the config path to use when none is given: ``$BENCHPIN_CONFIG``, then the default."""
    return os.environ.get("BENCHPIN_CONFIG") or DEFAULT_CONFIG_PATH


def _names(items: Iterable[str]) -> str:
    names = list(items)
    return f"it has: {', '.join(names)}" if names else "it has none"


def cross_checks(config: StationConfig, report: Report) -> None:
    """Check the kiosk's references to a gateway that the same file describes.

    A reference to a gateway not in this file cannot be checked here (it runs elsewhere) and
    passes; one to this file's gateway must name a device that gateway has.
    """
    kiosk, gateway = config.kiosk, config.gateway
    if kiosk is None or gateway is None:
        return
    ref = kiosk.engraver_ref
    if ref is not None and ref.gateway == gateway.id:
        engravers = [e.id for e in gateway.engravers]
        if ref.device not in engravers:
            report("kiosk.engraver", f"gateway {gateway.id!r} in this file has no engraver {ref.device!r} "
                                     f"({_names(engravers)})")
    scanners = [s.id for s in gateway.scanners]
    for i, ref in enumerate(kiosk.scanners):
        if ref.gateway == gateway.id and ref.device not in scanners:
            report(f"kiosk.scanners[{i}]", f"gateway {gateway.id!r} in this file has no scanner {ref.device!r} "
                                           f"({_names(scanners)})")
