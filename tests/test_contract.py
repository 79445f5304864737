"""docs/contract.md and benchpin/contract.py describe the same messages, and the messages keep
their promises.

The document's rule, checked here for every ``### `<topic>` `` heading under "MQTT topics":

- the heading's topic pattern is one message class's ``TOPIC`` (``{x}`` and ``<x>`` are both a
  wildcard segment), and every class in ``MESSAGES`` has exactly one such heading;
- its "**Published by** … · QoS n · retained yes|no · ACL: write `who`, read `who`" line matches
  the class's ``QOS`` and ``RETAINED`` and the shipped mosquitto ACL (writers and readers);
- its first ```json block parses with ``cls.from_payload()`` and has exactly the keys the class
  publishes for it (``cls.from_payload(example).to_payload()``, plus ``seq`` where the outbox adds
  it) — no field the class does not know, none it would publish left out;
- its field table lists exactly the example's keys, and a field marked required is refused,
  with its name in the error, when it is missing; one marked not required is accepted missing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from benchpin import contract
from benchpin.contract import (MESSAGES, SEGMENT_CHARS, ContractError, EngraverAction, EngraverCommand,
                               EngraverState, EngraverStatus, EngraveJob, GatewayState, GatewayStatus, JobAction,
                               JobDecision, JobState, JobStatus, KioskStatus, Message, PieceEvent, ProbeFault,
                               ProbeWindow, ScaleAction, ScaleCommand, ScaleFault, ScaleState, ScaleWeight, ScanMessage,
                               Temperature)

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "contract.md"
ACL = ROOT / "systemd" / "mosquitto" / "benchpin.acl"

# Keys on the wire that the class itself does not carry, and why. test_known_drift_is_still_drift
# fails once the class learns the key, so this list cannot go stale.
KNOWN_EXTRA: dict[type[Message], set[str]] = {}


# ----------------------------------------------------------------------------- reading the document


def normalise(topic: str) -> str:
    return re.sub(r"\{[^}/]+\}|<[^>/]+>", "*", topic)


def topic_sections(text: str) -> dict[str, str]:
    """Return heading topic -> section text for every ``### `topic` `` under "## MQTT topics"."""
    match = re.search(r"^## MQTT topics\s*$(.*?)(?=^## )", text, re.M | re.S)
    assert match, "docs/contract.md has no '## MQTT topics' section"
    body = match.group(1)
    parts = re.split(r"^### `([^`]+)`\s*$", body, flags=re.M)
    sections: dict[str, str] = {}
    for topic, section in zip(parts[1::2], parts[2::2]):
        assert topic not in sections, f"two headings for {topic}"
        sections[topic] = section
    return sections


def example_of(section: str) -> dict[str, Any]:
    match = re.search(r"^```json\s*$(.*?)^```\s*$", section, re.M | re.S)
    assert match, "no ```json example"
    return json.loads(match.group(1))


def delivery_of(section: str) -> tuple[int, bool, str]:
    line = next((ln for ln in section.splitlines() if ln.startswith("**Published by**")), None)
    assert line, "no '**Published by** …' line"
    qos = re.search(r"· QoS (\d) ·", line)
    retained = re.search(r"· retained (yes|no) ·", line)
    writer = re.search(r"ACL: write `([^`]+)`", line)
    assert qos and retained and writer, f"cannot read QoS, retained and ACL writer from: {line}"
    return int(qos.group(1)), retained.group(1) == "yes", writer.group(1)


def readers_of(section: str) -> str:
    line = next(ln for ln in section.splitlines() if ln.startswith("**Published by**"))
    readers = re.search(r"ACL: write `[^`]+`.*?, read `([^`]+)`", line)
    assert readers, f"cannot read the ACL readers from: {line}"
    return readers.group(1)


def field_table(section: str) -> dict[str, bool]:
    """Return field -> required from the section's ``| field | type | required | meaning |`` table."""
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| (yes|no) \|", section, re.M)
    assert rows, "no field table"
    return {name: required == "yes" for name, required in rows}


def documented() -> dict[type[Message], tuple[str, str]]:
    """Return class -> (heading, section) by matching each heading to a class's TOPIC."""
    by_topic = {normalise(cls.TOPIC): cls for cls in MESSAGES}
    found: dict[type[Message], tuple[str, str]] = {}
    for heading, section in topic_sections(DOC.read_text(encoding="utf-8")).items():
        cls = by_topic.get(normalise(heading))
        if cls is not None:
            found[cls] = (heading, section)
    return found


def wire_keys(cls: type[Message], example: dict[str, Any]) -> set[str]:
    """The keys the class publishes for this example, plus what the outbox adds on the wire."""
    return set(cls.from_payload(example).to_payload()) | KNOWN_EXTRA.get(cls, set())


# ----------------------------------------------------------------------------- the shipped ACL


def acl_users(access: str, topic_pattern: str, gateway: str = "casting-1") -> str:
    """Who the shipped ACL lets ``access`` ("read" or "write") a concrete instance of the topic:
    '%u' (the gateway itself), user names, or 'nobody'. A user's ``topic deny`` wins, as in mosquitto."""
    concrete = "benchpin/jaipur/" + re.sub(r"\{[^}/]+\}", "x1", topic_pattern.replace("{gateway}", gateway))
    user = None
    granted, denied = set(), set()
    for raw in ACL.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user":
            user = words[1]
        elif words[0] == "pattern" and words[1] in (access, "readwrite"):
            if topic_matches_sub(words[2].replace("%u", gateway), concrete):
                granted.add("%u")
        elif words[0] == "topic" and user is not None and topic_matches_sub(words[-1], concrete):
            if words[1] == "deny":
                denied.add(user)
            elif words[1] in (access, "readwrite"):
                granted.add(user)
    return " ".join(sorted(granted - denied)) or "nobody"


def acl_writer(topic_pattern: str, gateway: str = "casting-1") -> str:
    """Who the shipped ACL lets write a concrete instance of the topic: '%u', 'kiosk' or 'nobody'."""
    return acl_users("write", topic_pattern, gateway)


def acl_readers(topic_pattern: str, gateway: str = "casting-1") -> str:
    """Who the shipped ACL lets read (receive) a concrete instance of the topic."""
    return acl_users("read", topic_pattern, gateway)


# ----------------------------------------------------------------------------- document <-> classes


def test_every_heading_names_a_message_class() -> None:
    by_topic = {normalise(cls.TOPIC) for cls in MESSAGES}
    headings = topic_sections(DOC.read_text(encoding="utf-8"))
    assert headings, "no topic headings found"
    strays = [h for h in headings if normalise(h) not in by_topic]
    assert not strays, f"headings with no message class in benchpin.contract.MESSAGES: {strays}"


def test_every_message_class_has_a_heading() -> None:
    missing = [f"{cls.__name__} ({cls.TOPIC})" for cls in MESSAGES if cls not in documented()]
    assert not missing, f"message classes not documented in docs/contract.md: {missing}"


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_example_parses_and_has_the_class_fields(cls: type[Message]) -> None:
    heading, section = documented()[cls]
    example = example_of(section)
    parsed = cls.from_payload(json.dumps(example).encode())
    assert isinstance(parsed, cls)
    unknown = set(example) - set(cls.field_names()) - KNOWN_EXTRA.get(cls, set())
    assert not unknown, f"{heading}: example has keys {cls.__name__} does not know: {sorted(unknown)}"
    assert set(example) == wire_keys(cls, example), (
        f"{heading}: example keys {sorted(example)} but {cls.__name__} publishes {sorted(wire_keys(cls, example))}")


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_delivery_line_matches_the_class_and_the_acl(cls: type[Message]) -> None:
    heading, section = documented()[cls]
    qos, retained, writer = delivery_of(section)
    assert qos == cls.QOS, f"{heading}: documented QoS {qos}, {cls.__name__}.QOS is {cls.QOS}"
    assert retained == cls.RETAINED, f"{heading}: documented retained={retained}, {cls.__name__}.RETAINED={cls.RETAINED}"
    assert writer == acl_writer(cls.TOPIC), f"{heading}: documented writer {writer!r}, the ACL says {acl_writer(cls.TOPIC)!r}"
    assert readers_of(section) == acl_readers(cls.TOPIC), \
        f"{heading}: documented readers {readers_of(section)!r}, the ACL says {acl_readers(cls.TOPIC)!r}"


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_field_table_lists_the_example_and_says_what_is_required(cls: type[Message]) -> None:
    heading, section = documented()[cls]
    example = example_of(section)
    table = field_table(section)
    # The example is one real payload; the table may add fields that payload did not carry, as
    # long as they are optional and the class knows them.
    assert set(example) <= set(table), f"{heading}: table lists {sorted(table)}, example has {sorted(example)}"
    extra = {name for name in set(table) - set(example)}
    assert extra <= set(cls.field_names()) and not any(table[name] for name in extra), \
        f"{heading}: {sorted(extra)} are in the table but neither optional fields of {cls.__name__} nor in the example"

    def parse(payload: dict[str, Any]) -> Message:
        raw = json.dumps(payload)
        if cls is JobDecision:  # its subscriber passes the job id from the topic, as the gateway does
            return JobDecision.from_payload(raw, job_id="job-from-topic")
        return cls.from_payload(raw)

    for name, required in table.items():
        payload = {k: v for k, v in example.items() if k != name}
        if required:
            with pytest.raises(ContractError, match=re.escape(name)):
                parse(payload)
        else:
            assert isinstance(parse(payload), cls), f"{heading}: {name} is documented optional"


def test_known_drift_is_still_drift() -> None:
    for cls, keys in KNOWN_EXTRA.items():
        learnt = keys & set(cls.field_names())
        assert not learnt, f"{cls.__name__} now has {sorted(learnt)}: remove them from KNOWN_EXTRA"


def test_documented_enums_match() -> None:
    text = DOC.read_text(encoding="utf-8")
    for enum in (ProbeFault, JobState, EngraverState, GatewayState, JobAction, ScaleFault, ScaleAction):
        missing = [e.value for e in enum if f"`{e.value}`" not in text]
        assert not missing, f"{enum.__name__} values not in docs/contract.md: {missing}"
    metals = re.search(r"^## Metals.*?(?=^## )", text, re.M | re.S)
    assert metals
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| `([^`]+)` \| (\w+) \| ([\d.]+)", metals.group(0), re.M)
    assert {r[0]: (r[1].strip(), r[2], r[3], float(r[4])) for r in rows} == {
        m.name: (m.label, m.hallmark, m.swatch, m.fineness) for m in contract.METALS.values()}


# ----------------------------------------------------------------------------- property tests

segments = st.text(alphabet=sorted(SEGMENT_CHARS), min_size=1, max_size=contract.MAX_ID)
texts = st.text(max_size=60)
words = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")
timestamps = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z")
seqs = st.none() | st.integers(min_value=0, max_value=2**53)
numbers = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | numbers | texts,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                           max_leaves=12)

MESSAGE_STRATEGIES: dict[type[Message], st.SearchStrategy[Message]] = {
    GatewayStatus: st.builds(GatewayStatus, state=st.sampled_from(GatewayState), ts=timestamps, version=texts,
                             outbox=st.none() | st.dictionaries(texts, json_values, max_size=4),
                             devices=st.none() | st.dictionaries(texts, json_values, max_size=4)),
    KioskStatus: st.builds(KioskStatus, state=st.sampled_from(GatewayState), ts=timestamps, version=texts),
    Temperature: st.builds(Temperature, ts=timestamps, seq=seqs, value_c=st.none() | numbers,
                           fault=st.none() | st.sampled_from(ProbeFault)),
    ScanMessage: st.builds(ScanMessage, ts=timestamps, seq=seqs, code=texts, valid=st.booleans(), reason=texts),
    EngraveJob: st.builds(EngraveJob, job_id=segments, piece_id=words, serial=words, text=words, material=words,
                          height_mm=st.none() | numbers),
    JobStatus: st.builds(JobStatus, job_id=segments, state=st.sampled_from(JobState), ts=timestamps, detail=texts,
                         seq=seqs),
    JobDecision: st.builds(JobDecision, job_id=segments, action=st.sampled_from(JobAction), operator=texts,
                           ts=timestamps),
    EngraverCommand: st.builds(EngraverCommand, action=st.sampled_from(EngraverAction), operator=words,
                               ts=timestamps),
    EngraverStatus: st.builds(EngraverStatus, state=st.sampled_from(EngraverState), ts=timestamps),
    PieceEvent: st.builds(PieceEvent, event_id=texts, piece_id=texts, from_=st.none() | texts, to=texts,
                          station=texts, operator=texts, ts=timestamps, note=texts),
    ScaleWeight: st.builds(ScaleWeight, ts=timestamps, seq=seqs, grams=st.none() | numbers, stable=st.booleans(),
                           fault=st.none() | st.sampled_from(ScaleFault)),
    ScaleState: st.builds(ScaleState, ts=timestamps, seq=seqs, grams=st.none() | numbers,
                          fault=st.none() | st.sampled_from(ScaleFault)),
    ScaleCommand: st.builds(ScaleCommand, action=st.sampled_from(ScaleAction), operator=texts, ts=timestamps),
    ProbeWindow: st.tuples(numbers, numbers).flatmap(lambda pair: st.builds(
        ProbeWindow, tree_id=texts, metal=texts, min_c=st.just(min(pair)), max_c=st.just(max(pair)))),
}


def test_every_message_class_has_a_strategy() -> None:
    assert set(MESSAGE_STRATEGIES) == set(MESSAGES)


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip(cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(MESSAGE_STRATEGIES[cls])
    wire = json.dumps(message.to_payload(), ensure_ascii=False).encode("utf-8")
    assert cls.from_payload(wire) == message


def _accepts_or_contract_error(cls: type[Message], raw: Any) -> None:
    try:
        result = cls.from_payload(raw)
    except ContractError:
        return
    assert isinstance(result, cls)


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200) | st.text(max_size=200))
def test_fuzz_bytes(cls: type[Message], raw: bytes | str) -> None:
    _accepts_or_contract_error(cls, raw)


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_json(cls: type[Message], data: st.DataObject) -> None:
    keys = st.sampled_from(list(cls.field_names()) + ["extra"]) | texts
    value = data.draw(json_values | st.dictionaries(keys, json_values, max_size=8))
    _accepts_or_contract_error(cls, json.dumps(value).encode())
    if isinstance(value, dict):
        _accepts_or_contract_error(cls, value)


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_fuzz_one_field_of_a_valid_message(cls: type[Message], data: st.DataObject) -> None:
    payload = data.draw(MESSAGE_STRATEGIES[cls]).to_payload()
    name = data.draw(st.sampled_from(sorted(payload)))
    payload[name] = data.draw(json_values)
    _accepts_or_contract_error(cls, json.dumps(payload).encode())


WRONG = [["a list"], {"an": "object"}, True, 12345]
NUMBERS = ("seq", "value_c", "height_mm", "operator", "grams", "uptime_s", "load_1m", "disk_free_bytes",
           "disk_bytes_written", "min_c", "max_c")


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_wrong_type_names_the_field(cls: type[Message]) -> None:
    _, section = documented()[cls]
    example = example_of(section)
    for name in cls.field_names():
        if name not in example:
            continue
        for wrong in WRONG:
            if isinstance(wrong, dict) and name in ("outbox", "devices"):
                continue  # an object is right for these
            if isinstance(wrong, int) and not isinstance(wrong, bool) and name in NUMBERS:
                continue  # a number is right for these (an operator may be a number badge)
            if wrong is True and name in ("valid", "stable"):
                continue  # true is right for a flag
            payload = {**example, name: wrong}
            with pytest.raises(ContractError, match=re.escape(name)):
                cls.from_payload(json.dumps(payload))


@pytest.mark.parametrize("cls", MESSAGES, ids=lambda c: c.__name__)
def test_not_an_object_is_a_contract_error(cls: type[Message]) -> None:
    for raw in (b"", b"\xff\xfe", b"[]", b"null", b"42", b'"text"', b"{", "\ud800"):
        with pytest.raises(ContractError):
            cls.from_payload(raw)


@pytest.mark.parametrize("cls", [Temperature], ids=lambda c: c.__name__)
def test_deeply_nested_json_is_a_contract_error(cls: type[Message]) -> None:
    with pytest.raises(ContractError):
        cls.from_payload(b"[" * 60_000)


def test_numbers_stay_numbers() -> None:
    reading = Temperature.from_payload(b'{"ts":"2026-12-02T17:08:54.250Z","seq":40,"value_c":964,"fault":null}')
    assert reading.value_c == 964.0 and isinstance(reading.value_c, float) and not math.isnan(reading.value_c)


def test_strategy_fields_cover_the_dataclasses() -> None:
    for cls in MESSAGES:
        assert [f.name.rstrip("_") for f in fields(cls)] == list(cls.field_names())  # type: ignore[arg-type]
