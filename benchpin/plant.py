"""A plant of many stations: the inventory, the plant broker's users and each station's bridge.

The plant broker is a NATS cluster with its MQTT listener (MQTT 3.1.1 on JetStream). Each station
Pi runs its gateway and kiosk against its own mosquitto, which bridges to the plant broker the
topics the station owns (see ``docs/plant.md``). This module is pure: it parses the plant
inventory (TOML) into frozen dataclasses, every problem named by its key path, and renders

- :func:`nats_users`: the ``authorization`` block every plant node includes, one MQTT-only user
  per station allowed to publish under its own gateway id only (and its kiosks' status and the
  piece events every kiosk writes), plus read-only users for dashboards;
- :func:`bridge_conf`: the mosquitto ``conf.d`` file of one station's bridge.

Passwords never live in the inventory: each user's is a file ``<secrets_dir>/<user>.password``,
made by :func:`ensure_passwords`; the NATS side holds only its bcrypt hash.
"""

from __future__ import annotations

import dataclasses
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from benchpin.config import ConfigError
from benchpin.contract import is_segment
from benchpin.tables import Table

# Topic segments that follow the site in benchpin's own topics: no gateway may be called so.
RESERVED_IDS = frozenset({"kiosk", "pieces"})
BRIDGE_NAME = "plant"

# What a station owns, relative to benchpin/<site>/<gateway>/: out to the plant ...
GATEWAY_OUT = ("status", "probe/+/temperature", "scanner/+/scan", "engraver/+/state", "engraver/+/job/+",
               "scale/+/weight", "scale/+/state")
# ... and in from it (commands addressed to the station's devices).
GATEWAY_IN = ("engraver/+/job", "engraver/+/job/+/command", "engraver/+/command", "probe/+/window",
              "scale/+/command")
# What a read-only plant user may read, relative to benchpin/<site>/ (never scans or commands).
READER_TOPICS = ("+/status", "+/probe/+/temperature", "+/engraver/+/state", "+/engraver/+/job/+",
                 "+/scale/+/weight", "+/scale/+/state", f"+/bridge/{BRIDGE_NAME}", "pieces/+/events",
                 "kiosk/+/status")
# A QoS 1 subscription on NATS is a JetStream consumer delivering on $MQTT.sub.<id>: a user
# with subscribe permissions needs this subject too, or every QoS 1 subscription is refused.
NATS_MQTT_DELIVERY = "$MQTT.sub.>"


@dataclass(frozen=True)
class PlantStation:
    """One station Pi: its gateway id (its plant user) and the kiosks that run on it."""

    gateway: str
    kiosks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlantReader:
    """A plant user reading telemetry (a dashboard, the plant historian); scans (badge codes among
    them) only with ``scans``; with ``commands`` it may also send the stations' devices their
    commands (a plant-wide planning system)."""

    user: str
    commands: bool = False
    scans: bool = False

    def topics(self, site: str) -> tuple[str, ...]:
        """Every topic filter this user may read."""
        extra = ("+/scanner/+/scan",) if self.scans else ()
        return tuple(f"benchpin/{site}/{t}" for t in READER_TOPICS + extra)


@dataclass(frozen=True)
class Plant:
    """The plant inventory: the site, the plant broker's MQTT addresses, every station and reader."""

    site: str
    brokers: tuple[str, ...]
    secrets_dir: str
    stations: tuple[PlantStation, ...]
    readers: tuple[PlantReader, ...] = ()
    ca_file: str = ""
    max_queued_messages: int = 1_000_000
    bcrypt_rounds: int = 11

    def station(self, gateway: str) -> PlantStation:
        """Return the station of ``gateway``; KeyError naming the known ones otherwise."""
        for station in self.stations:
            if station.gateway == gateway:
                return station
        known = ", ".join(s.gateway for s in self.stations) or "none"
        raise KeyError(f"no station {gateway!r} in the inventory (stations: {known})")

    def users(self) -> tuple[str, ...]:
        return tuple(s.gateway for s in self.stations) + tuple(r.user for r in self.readers)

    def password_path(self, user: str) -> Path:
        return Path(self.secrets_dir) / f"{user}.password"


_PLANT = Plant(site="", brokers=(), secrets_dir="", stations=())


def _plant_segment(t: Table, key: str, what: str) -> str:
    """Read an id that becomes a topic segment and a NATS subject token (so no '.')."""
    value = t.text(key, nonempty=True)
    if not value:
        return value
    if not is_segment(value) or "." in value:
        t.problem(key, f"must use only letters, digits, '-' and '_' ({what} becomes a topic segment and a "
                       f"NATS subject token; got {value!r})")
    return value


def _broker_address(t: Table, index: int, value: str) -> None:
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        t.problem(f"brokers[{index}]", f"must be HOST:PORT (got {value!r})")


def parse_plant(data: dict[str, object]) -> Plant:
    """Parse an inventory's tables; raise :class:`ConfigError` listing every problem by key path."""
    problems: list[str] = []
    root = Table(data, "", problems)
    plant_t = root.table("plant", required=True) or Table({}, "plant", problems)
    d = _PLANT
    site = _plant_segment(plant_t, "site", "the site id")
    brokers = plant_t.texts("brokers")
    for i, address in enumerate(brokers):
        _broker_address(plant_t, i, address)
    if plant_t.has("brokers") and not brokers:
        plant_t.problem("brokers", "must name at least one plant broker node")
    secrets_dir = plant_t.text("secrets_dir", nonempty=True)
    ca_file = plant_t.text("ca_file", d.ca_file)
    max_queued = plant_t.integer("max_queued_messages", d.max_queued_messages, min=0)
    rounds = plant_t.integer("bcrypt_rounds", d.bcrypt_rounds, min=4, max=16)
    plant_t.done()

    stations: list[PlantStation] = []
    users: dict[str, str] = {}  # user -> key path, to name both ends of a clash
    kiosks: dict[str, str] = {}

    def claim(seen: dict[str, str], name: str, path: str, key: str, what: str) -> None:
        if name in seen:
            problems.append(f"{path}.{key}: {what} {name!r} is already {seen[name]}")
        else:
            seen[name] = f"{path}.{key}"

    station_tables = root.tables("stations")
    if not station_tables:
        problems.append("stations: the inventory lists no station ([[stations]] with a gateway id)")
    for st in station_tables:
        gateway = _plant_segment(st, "gateway", "the gateway id")
        if gateway in RESERVED_IDS:
            st.problem("gateway", f"{gateway!r} is a topic segment benchpin uses itself; choose another id")
        if gateway:
            claim(users, gateway, st.path, "gateway", "user")
        station_kiosks = st.texts("kiosks", ())
        for i, kiosk in enumerate(station_kiosks):
            if not is_segment(kiosk) or "." in kiosk:
                st.problem(f"kiosks[{i}]", f"must use only letters, digits, '-' and '_' (got {kiosk!r})")
            claim(kiosks, kiosk, st.path, f"kiosks[{i}]", "kiosk")
        st.done()
        stations.append(PlantStation(gateway=gateway, kiosks=station_kiosks))

    readers: list[PlantReader] = []
    for rt in root.tables("readers"):
        user = _plant_segment(rt, "user", "the user name")
        if user:
            claim(users, user, rt.path, "user", "user")
        commands = rt.flag("commands", False)
        scans = rt.flag("scans", False)
        rt.done()
        readers.append(PlantReader(user=user, commands=commands, scans=scans))
    root.done()
    if problems:
        raise ConfigError(problems)
    return Plant(site=site, brokers=brokers, secrets_dir=secrets_dir, stations=tuple(stations),
                 readers=tuple(readers), ca_file=ca_file, max_queued_messages=max_queued,
                 bcrypt_rounds=rounds)


def load_plant(path: str | Path) -> Plant:
    """Read and parse an inventory file; :class:`ConfigError` for an unreadable file or bad keys."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError([f"cannot read the inventory: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"]) from None
    plant = parse_plant(data)
    if not Path(plant.secrets_dir).is_absolute():
        # Next to the inventory, wherever the command runs: a secrets_dir taken from the current
        # directory would make a fresh set of passwords and lock every station out.
        plant = dataclasses.replace(plant, secrets_dir=str(Path(path).resolve().parent / plant.secrets_dir))
    return plant


# ----------------------------------------------------------------------------- topics and subjects

def subject(topic: str) -> str:
    """Return the NATS subject of an MQTT topic filter (``/`` → ``.``, ``+`` → ``*``, ``#`` → ``>``)."""
    tokens = topic.split("/")
    return ".".join({"+": "*", "#": ">"}.get(token, token) for token in tokens)


def station_out_topics(plant: Plant, station: PlantStation) -> tuple[str, ...]:
    """Every topic filter the station publishes to the plant."""
    prefix = f"benchpin/{plant.site}"
    own = tuple(f"{prefix}/{station.gateway}/{rest}" for rest in GATEWAY_OUT)
    own += (f"{prefix}/{station.gateway}/bridge/{BRIDGE_NAME}",)
    kiosks = tuple(f"{prefix}/kiosk/{kiosk}/status" for kiosk in station.kiosks)
    # Every kiosk on the shared ledger may move any piece: piece events are the one topic no
    # station owns alone.
    events = (f"{prefix}/pieces/+/events",) if station.kiosks else ()
    return own + kiosks + events


def station_in_topics(plant: Plant, station: PlantStation) -> tuple[str, ...]:
    """Every topic filter the plant sends to the station (commands for its own devices)."""
    return tuple(f"benchpin/{plant.site}/{station.gateway}/{rest}" for rest in GATEWAY_IN)


# ----------------------------------------------------------------------------- the plant broker's users

def ensure_passwords(plant: Plant) -> list[Path]:
    """Make a random password file (mode 0600) for every user lacking one; return those made."""
    made = []
    directory = Path(plant.secrets_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for user in plant.users():
        path = plant.password_path(user)
        if path.exists():
            continue
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
        made.append(path)
    return made


def read_password(plant: Plant, user: str) -> str:
    """Return a user's password from its file; ConfigError naming the file when it is missing or empty."""
    path = plant.password_path(user)
    try:
        password = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError([f"plant.secrets_dir: no password for {user!r} ({path}: {exc.strerror or exc}); "
                           "`benchpin plant acl` makes one"]) from None
    if not password:
        raise ConfigError([f"plant.secrets_dir: {path} is empty"])
    return password


def _quoted(items: tuple[str, ...]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def nats_users(plant: Plant, hashes: dict[str, str]) -> str:
    """Render the ``authorization`` block of every plant node (``hashes``: user → bcrypt hash)."""
    lines = [
        f"# The plant broker's MQTT users for site {plant.site}: made by `benchpin plant acl` from the",
        "# plant inventory. Include it in every node's nats-server.conf; do not edit by hand.",
        "authorization {",
        "  users = [",
    ]
    for station in plant.stations:
        publish = tuple(subject(t) for t in station_out_topics(plant, station))
        subscribe = tuple(subject(t) for t in station_in_topics(plant, station)) + (NATS_MQTT_DELIVERY,)
        lines += [
            f"    # station {station.gateway}: publishes under its own gateway id only",
            f'    {{ user: "{station.gateway}", password: "{hashes[station.gateway]}",',
            '      allowed_connection_types: ["MQTT"],',
            f"      permissions: {{ publish: {{ allow: [{_quoted(publish)}] }},",
            f"                     subscribe: {{ allow: [{_quoted(subscribe)}] }} }} }}",
        ]
    for reader in plant.readers:
        read = tuple(subject(t) for t in reader.topics(plant.site)) + (NATS_MQTT_DELIVERY,)
        if reader.commands:
            sends = tuple(subject(f"benchpin/{plant.site}/+/{t}") for t in GATEWAY_IN)
            what = "reads telemetry and sends the stations' devices commands"
            rule = f"allow: [{_quoted(sends)}]"
        else:
            what, rule = "reads telemetry; publishes nothing", 'deny: [">"]'
        if reader.scans:
            what += " (and scans)"
        lines += [
            f"    # {reader.user}: {what}",
            f'    {{ user: "{reader.user}", password: "{hashes[reader.user]}",',
            '      allowed_connection_types: ["MQTT"],',
            f"      permissions: {{ publish: {{ {rule} }},",
            f"                     subscribe: {{ allow: [{_quoted(read)}] }} }} }}",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def hash_password(password: str, rounds: int) -> str:
    """Return the bcrypt hash nats-server checks a password against."""
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds, prefix=b"2a")).decode("ascii")


# ----------------------------------------------------------------------------- a station's bridge

def bridge_conf(plant: Plant, station: PlantStation, password: str) -> str:
    """Render the mosquitto ``conf.d/plant-bridge.conf`` of one station."""
    site, gw = plant.site, station.gateway
    # Each station starts on another node (the list turned by its place in the inventory), so the
    # stations spread over the cluster; with round_robin false a bridge that had to move goes
    # back to its first node once that node is up again.
    turn = plant.stations.index(station) % len(plant.brokers) if plant.brokers else 0
    brokers = plant.brokers[turn:] + plant.brokers[:turn]
    lines = [
        f"# /etc/mosquitto/conf.d/plant-bridge.conf of station {gw} (site {site}): made by",
        "# `benchpin plant bridge`; keep it mode 0640 root:mosquitto (it holds the plant password).",
        "# The bridge forwards exactly the topics this station owns, QoS 1, on a persistent session,",
        "# and queues them on disk through a plant outage.",
        "",
        f"connection {BRIDGE_NAME}",
        # Every node of the cluster: the bridge moves to the next one when its node goes away.
        f"address {' '.join(brokers)}",
        "round_robin false",
        # NATS speaks MQTT 3.1.1 and knows nothing of mosquitto's private bridge flag.
        "bridge_protocol_version mqttv311",
        "try_private false",
        "cleansession false",
        f"remote_clientid benchpin-{site}-{gw}",
        f"remote_username {gw}",
        f"remote_password {password}",
        "keepalive_interval 15",
        "restart_timeout 1 30",
        # Link state (1 up, 0 down), retained, on both brokers.
        "notifications true",
        f"notification_topic benchpin/{site}/{gw}/bridge/{BRIDGE_NAME}",
        # QoS 1 messages queued for the plant while it is unreachable (0: no limit). The default
        # (1000) would drop readings after a couple of minutes of outage. These two options are
        # global: they replace the station's own values for every client of its mosquitto. The
        # queue is held in memory (about 0.5 KB a reading) and written to mosquitto.db every
        # autosave_interval seconds: size it to the Pi's RAM and the longest outage to ride out.
        f"max_queued_messages {plant.max_queued_messages}",
        "max_queued_bytes 0",
    ]
    if plant.ca_file:
        lines += [f"bridge_cafile {plant.ca_file}", "bridge_insecure false"]
    lines.append("")
    lines += [f"topic {topic} out 1" for topic in station_out_topics(plant, station)
              if not topic.endswith(f"/bridge/{BRIDGE_NAME}")]  # mosquitto publishes that one itself
    lines += [f"topic {topic} in 1" for topic in station_in_topics(plant, station)]
    lines.append("")
    return "\n".join(lines)
