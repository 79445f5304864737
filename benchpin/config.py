"""Station configuration: one TOML file parsed once into frozen dataclasses.

Every problem is reported with its key path (``gateway.probes[1].baudrate: must be an
integer``) and all problems are collected before :class:`ConfigError` is raised, so a user
fixes a file in one pass.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from firmware_bridge.barcodes import CHECK_DIGIT_SCHEMES, DEFAULT_PREFIXES, BarcodeRules
from firmware_bridge.hid import LAYOUTS

DEFAULT_CONFIG_PATH = "/etc/benchpin/station.toml"
_MISSING: Any = object()


class ConfigError(Exception):
    """A configuration that cannot be used; ``problems`` lists each one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Table:
    """Read typed values from one TOML table, recording problems under its key path."""

    def __init__(self, data: Any, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self._problem("", "must be a table")
            data = {}
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path and key else (self.path or key)

    def _problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self._key(key)}: {message}")

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self._problem(key, "is required")
        return default

    def str(self, key: str, default: Any = _MISSING, *, choices: Iterable[str] | None = None,
            nonempty: bool = False) -> Any:
        value = self._get(key, default)
        if key not in self.data:
            return value
        if not isinstance(value, str):
            self._problem(key, "must be a string")
            return default if default is not _MISSING else ""
        if nonempty and not value.strip():
            self._problem(key, "must not be empty")
        if choices is not None and value not in choices:
            self._problem(key, f"must be one of {', '.join(repr(c) for c in choices)} (got {value!r})")
        return value

    def int(self, key: str, default: Any = _MISSING, *, min: int | None = None,
            max: int | None = None) -> Any:
        value = self._get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self._problem(key, "must be an integer")
            return default if default is not _MISSING else 0
        self._range(key, value, min, max)
        return value

    def float(self, key: str, default: Any = _MISSING, *, min: float | None = None,
              max: float | None = None) -> Any:
        value = self._get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._problem(key, "must be a number")
            return default if default is not _MISSING else 0.0
        self._range(key, value, min, max)
        return float(value)

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if key in self.data and not isinstance(value, bool):
            self._problem(key, "must be true or false")
            return default if default is not _MISSING else False
        return value

    def _range(self, key: str, value: float, lo: float | None, hi: float | None) -> None:
        if lo is not None and value < lo:
            self._problem(key, f"must be at least {lo} (got {value})")
        if hi is not None and value > hi:
            self._problem(key, f"must be at most {hi} (got {value})")

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        self.used.add(key)
        if key not in self.data:
            if required:
                self._problem(key, "is required")
            return None
        return _Table(self.data[key], self._key(key), self.problems)

    def tables(self, key: str) -> list[_Table]:
        self.used.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self._problem(key, "must be an array of tables ([[...]])")
            return []
        return [_Table(item, f"{self._key(key)}[{i}]", self.problems) for i, item in enumerate(value)]

    def done(self) -> None:
        """Report keys nobody asked for: a typo must not be silently ignored."""
        for key in self.data:
            if key not in self.used:
                self._problem(key, "unknown key")


# ----------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class SiteConfig:
    id: str


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

    def material(self, name: str) -> MaterialConfig | None:
        return dict(self.materials).get(name)


@dataclass(frozen=True)
class OutboxConfig:
    max_messages: int = 1_000_000
    replay_rate: float = 20_000.0  # messages/s handed to the broker at most; 0 = unbounded
    window: int = 1000  # unacknowledged QoS 1 messages in flight at most (paho keys them by 16-bit id)
    synchronous: str = "full"  # SQLite synchronous: "full" survives power cuts
    commit_interval_ms: float = 250.0  # telemetry is on disk or acknowledged within this


@dataclass(frozen=True)
class GatewayConfig:
    id: str
    state_dir: str = "/var/lib/benchpin"
    probes: tuple[ProbeConfig, ...] = ()
    scanners: tuple[ScannerConfig, ...] = ()
    engravers: tuple[EngraverConfig, ...] = ()
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    status_interval_s: float = 10.0
    ready_timeout_s: float = 60.0  # tell systemd READY=1 (degraded) after this even if not all is up


@dataclass(frozen=True)
class KioskConfig:
    station: str
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
    secret_key_file: str = ""  # "" = a random key per start (badge sessions end on restart)


@dataclass(frozen=True)
class StationConfig:
    site: SiteConfig
    mqtt: MqttConfig
    gateway: GatewayConfig | None = None
    kiosk: KioskConfig | None = None
    barcodes: BarcodeRules = field(default_factory=BarcodeRules)
    source: str = ""

    @property
    def topic_prefix(self) -> str:
        return f"benchpin/{self.site.id}"


_SEGMENT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def _segment(t: _Table, key: str) -> str:
    """Read an id that becomes an MQTT topic segment (no '/', '+', '#', spaces)."""
    value = t.str(key, nonempty=True)
    if isinstance(value, str) and value and not set(value) <= _SEGMENT_CHARS:
        t._problem(key, f"must use only letters, digits, '-', '_' and '.' (it becomes a topic segment; got {value!r})")
    return value


def _unique_ids(parent: _Table, key: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            parent.problems.append(f"{parent._key(key)}[{i}].id: duplicate id {ident!r}")
        seen.add(ident)


def _parse_probe(t: _Table) -> ProbeConfig:
    kind = t.str("kind", choices=("serial", "max31855"))
    probe = ProbeConfig(
        id=_segment(t, "id"),
        kind=kind,
        port=t.str("port", ""),
        baudrate=t.int("baudrate", 9600, min=50, max=4_000_000),
        channel=t.int("channel", 1, min=0, max=99),
        stall_timeout_s=t.float("stall_timeout_s", 10.0, min=0.1),
        spi_port=t.int("spi_port", 0, min=0),
        spi_device=t.int("spi_device", 0, min=0),
        interval_s=t.float("interval_s", 1.0, min=0.01),
    )
    if kind == "serial" and not probe.port:
        t._problem("port", "is required for a serial probe")
    t.done()
    return probe


def _parse_scanner(t: _Table) -> ScannerConfig:
    kind = t.str("kind", choices=("serial", "usb-hid"))
    scanner = ScannerConfig(
        id=_segment(t, "id"),
        kind=kind,
        port=t.str("port", ""),
        baudrate=t.int("baudrate", 9600, min=50, max=4_000_000),
        vendor_id=t.int("vendor_id", 0, min=0, max=0xFFFF),
        product_id=t.int("product_id", 0, min=0, max=0xFFFF),
        serial_number=t.str("serial_number", ""),
        bus_path=t.str("bus_path", ""),
        dedupe_s=t.float("dedupe_s", 1.5, min=0.0),
        prefix=t.str("prefix", ""),
        suffix=t.str("suffix", ""),
        idle_s=t.float("idle_s", 0.3, min=0.01),
        layout=t.str("layout", "us", choices=tuple(LAYOUTS)),
        interface=t.int("interface", -1, min=-1, max=255),
        endpoint=t.int("endpoint", 0, min=0, max=0xFF),
    )
    for key in ("prefix", "suffix"):
        value = getattr(scanner, key)
        if isinstance(value, str) and not value.isascii():
            t._problem(key, f"must be ASCII (got {value!r})")
    if scanner.endpoint and not scanner.endpoint & 0x80:
        t._problem("endpoint", f"must be an IN endpoint address (0x81..0x8F; got {scanner.endpoint:#04x})")
    if kind == "serial" and not scanner.port:
        t._problem("port", "is required for a serial scanner")
    if kind == "usb-hid" and not (scanner.vendor_id and scanner.product_id):
        t._problem("vendor_id", "vendor_id and product_id are required for a usb-hid scanner")
    t.done()
    return scanner


def _parse_materials(t: _Table | None) -> tuple[tuple[str, MaterialConfig], ...]:
    if t is None:
        return tuple(DEFAULT_MATERIALS.items())
    materials = []
    for name in list(t.data):
        m = t.table(name)
        assert m is not None
        materials.append((name, MaterialConfig(power=m.int("power", min=0, max=100_000),
                                               feed_mm_min=m.float("feed_mm_min", min=1.0))))
        m.done()
    if not materials:
        t._problem("", "must name at least one material")
    return tuple(materials)


def _str_list(t: _Table, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = t._get(key, default)
    if key in t.data and (not isinstance(value, list) or not all(isinstance(v, str) and v for v in value)):
        t._problem(key, "must be a list of non-empty strings")
        return default
    return tuple(value)


def _parse_barcodes(t: _Table | None) -> BarcodeRules:
    if t is None:
        return BarcodeRules()
    rules = BarcodeRules(
        prefixes=_str_list(t, "prefixes", DEFAULT_PREFIXES),
        check_digit=t.str("check_digit", "none", choices=CHECK_DIGIT_SCHEMES),
        check_digit_exempt=_str_list(t, "check_digit_exempt", ("CMD-",)),
    )
    if not rules.prefixes:
        t._problem("prefixes", "must name at least one prefix")
    t.done()
    return rules


def _parse_engraver(t: _Table) -> EngraverConfig:
    door_pin = t.int("door_pin", None, min=0, max=53)
    engraver = EngraverConfig(
        id=_segment(t, "id"),
        port=t.str("port", nonempty=True),
        baudrate=t.int("baudrate", 115200, min=50, max=4_000_000),
        door_pin=door_pin,
        materials=_parse_materials(t.table("materials")),
        cap_height_mm=t.float("cap_height_mm", 1.0, min=0.1, max=50.0),
        max_width_mm=t.float("max_width_mm", 20.0, min=1.0, max=1000.0),
        min_cap_height_mm=t.float("min_cap_height_mm", 0.3, min=0.05),
        origin_x_mm=t.float("origin_x_mm", 0.0),
        origin_y_mm=t.float("origin_y_mm", 0.0),
        direction=t.str("direction", "+x", choices=("+x", "-x", "+y", "-y")),
        status_interval_s=t.float("status_interval_s", 0.2, min=0.02, max=5.0),
        reply_timeout_s=t.float("reply_timeout_s", 10.0, min=0.5),
    )
    t.done()
    return engraver


def _parse_outbox(t: _Table | None) -> OutboxConfig:
    if t is None:
        return OutboxConfig()
    outbox = OutboxConfig(
        max_messages=t.int("max_messages", 1_000_000, min=100),
        replay_rate=t.float("replay_rate", 20_000.0, min=0.0),
        window=t.int("window", 1000, min=1, max=60_000),
        synchronous=t.str("synchronous", "full", choices=("full", "normal")),
        commit_interval_ms=t.float("commit_interval_ms", 250.0, min=0.0, max=60_000.0),
    )
    t.done()
    return outbox


def _parse_gateway(t: _Table) -> GatewayConfig:
    probes = [_parse_probe(p) for p in t.tables("probes")]
    scanners = [_parse_scanner(s) for s in t.tables("scanners")]
    engravers = [_parse_engraver(e) for e in t.tables("engravers")]
    for key, items in (("probes", probes), ("scanners", scanners), ("engravers", engravers)):
        _unique_ids(t, key, [item.id for item in items])
    gateway = GatewayConfig(
        id=_segment(t, "id"),
        state_dir=t.str("state_dir", "/var/lib/benchpin", nonempty=True),
        probes=tuple(probes),
        scanners=tuple(scanners),
        engravers=tuple(engravers),
        outbox=_parse_outbox(t.table("outbox")),
        backoff_initial_s=t.float("backoff_initial_s", 0.5, min=0.01),
        backoff_max_s=t.float("backoff_max_s", 30.0, min=0.1),
        status_interval_s=t.float("status_interval_s", 10.0, min=0.1),
        ready_timeout_s=t.float("ready_timeout_s", 60.0, min=0.0),
    )
    t.done()
    return gateway


def _parse_kiosk(t: _Table) -> KioskConfig:
    kiosk = KioskConfig(
        station=t.str("station", nonempty=True),
        database=t.str("database", "sqlite:////var/lib/benchpin/ledger.sqlite", nonempty=True),
        listen=t.str("listen", "0.0.0.0:8080", nonempty=True),
        api_token_file=t.str("api_token_file", ""),
        routes_file=t.str("routes_file", ""),
        serial_pattern=t.str("serial_pattern", "BP-{year}-{seq:06d}", nonempty=True),
        engraver=t.str("engraver", ""),
        engrave_height_mm=t.float("engrave_height_mm", 1.0, min=0.1, max=20.0),
        outbox_file=t.str("outbox_file", ""),
        gateway=t.str("gateway", ""),
        idle_logout_s=t.float("idle_logout_s", 300.0, min=5.0, max=86400.0),
        threads=t.int("threads", 32, min=4, max=512),
        secret_key_file=t.str("secret_key_file", ""),
    )
    _check_kiosk_files(t, kiosk)
    if isinstance(kiosk.gateway, str) and not set(kiosk.gateway) <= _SEGMENT_CHARS:
        t._problem("gateway", f"must be a gateway id (letters, digits, '-', '_', '.'; got {kiosk.gateway!r})")
    database = kiosk.database
    if isinstance(database, str) and not database.startswith(("sqlite://", "postgresql://", "postgres://")):
        t._problem("database", f"must be a sqlite:/// or postgresql:// URL (got {database!r})")
    listen = kiosk.listen
    if isinstance(listen, str) and (":" not in listen or not listen.rsplit(":", 1)[1].isdigit()):
        t._problem("listen", f"must be HOST:PORT (got {listen!r})")
    t.done()
    return kiosk


def _check_kiosk_files(t: _Table, kiosk: KioskConfig) -> None:
    # Imported here: the kiosk package owns the workflow and serial rules; gateways never get here.
    from kiosk.ledger.serials import check_pattern
    from kiosk.ledger.workflow import WorkflowError, load_workflow

    from kiosk.routes import DEFAULT_ROUTES_FILE

    if isinstance(kiosk.serial_pattern, str) and (problem := check_pattern(kiosk.serial_pattern)):
        t._problem("serial_pattern", problem)
    try:
        workflow = load_workflow(kiosk.routes_file or DEFAULT_ROUTES_FILE)
    except WorkflowError as exc:
        for problem in exc.problems:
            t._problem("routes_file", problem)
    else:
        known = {stage.name for route in workflow.routes.values() for stage in route.stages}
        for stage in (s.strip() for s in str(kiosk.station).split(",") if s.strip()):
            if stage not in known:
                t._problem("station", f"{stage!r} is no stage of any route (stages: {', '.join(sorted(known))})")
    for key in ("api_token_file", "secret_key_file"):
        path = getattr(kiosk, key)
        if isinstance(path, str) and path and not Path(path).is_file():
            t._problem(key, f"file not found: {path}")
    engraver = kiosk.engraver
    if isinstance(engraver, str) and engraver and not re.fullmatch(r"[\w.-]+/[\w.-]+", engraver):
        t._problem("engraver", f"must be GATEWAY/ENGRAVER, e.g. 'casting-1/laser-1' (got {engraver!r})")
    database = kiosk.database
    if (isinstance(database, str) and database.startswith(("postgresql://", "postgres://"))
            and not kiosk.outbox_file):
        t._problem("outbox_file", "is required with a PostgreSQL ledger (the kiosk's event outbox file)")


def _parse_mqtt(t: _Table | None) -> MqttConfig:
    if t is None:
        return MqttConfig()
    mqtt = MqttConfig(
        host=t.str("host", "127.0.0.1", nonempty=True),
        port=t.int("port", 1883, min=1, max=65535),
        username=t.str("username", ""),
        password_file=t.str("password_file", ""),
        tls=t.bool("tls", False),
        ca_file=t.str("ca_file", ""),
        cert_file=t.str("cert_file", ""),
        key_file=t.str("key_file", ""),
        keepalive_s=t.int("keepalive_s", 30, min=5, max=3600),
        max_packet_bytes=t.int("max_packet_bytes", 65536, min=1024, max=268_435_455),
    )
    if "password" in t.data:
        t.used.add("password")
        t._problem("password", "put the password in a file and name it in mqtt.password_file")
    for key in ("password_file", "ca_file", "cert_file", "key_file"):
        value = getattr(mqtt, key)
        if value and not Path(value).is_file():
            t._problem(key, f"file not found: {value}")
    t.done()
    return mqtt


def parse_config(data: dict[str, Any], *, source: str = "") -> StationConfig:
    """Turn a parsed TOML document into a :class:`StationConfig` or raise :class:`ConfigError`."""
    problems: list[str] = []
    root = _Table(data, "", problems)
    site_t = root.table("site", required=True)
    site = SiteConfig(id=_segment(site_t, "id")) if site_t else SiteConfig(id="")
    if site_t:
        site_t.done()
    mqtt = _parse_mqtt(root.table("mqtt"))
    gateway_t = root.table("gateway")
    gateway = _parse_gateway(gateway_t) if gateway_t else None
    kiosk_t = root.table("kiosk")
    kiosk = _parse_kiosk(kiosk_t) if kiosk_t else None
    barcodes = _parse_barcodes(root.table("barcodes"))
    root.done()
    if problems:
        raise ConfigError(problems)
    return StationConfig(site=site, mqtt=mqtt, gateway=gateway, kiosk=kiosk, barcodes=barcodes,
                         source=source)


def load_config(path: str | os.PathLike[str]) -> StationConfig:
    """Read and validate a station config file."""
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
    return parse_config(data, source=str(path))


def default_config_path() -> str:
    return os.environ.get("BENCHPIN_CONFIG") or DEFAULT_CONFIG_PATH
