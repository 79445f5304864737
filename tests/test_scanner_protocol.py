"""Serial scanner line framing: terminators, prefix/suffix, bad bytes, overlong lines."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.hid import ReadError, Scan
from firmware_bridge.scanner import ScanLineFramer, parse_line

printable = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60)
codes = printable.filter(lambda s: s.strip())


def test_framer_accepts_cr_lf_and_crlf():
    framer = ScanLineFramer()
    assert framer.feed(b"PC-1\rPC-2\nPC-3\r\nPC-4\n\r") == [Scan("PC-1"), Scan("PC-2"), Scan("PC-3"), Scan("PC-4")]
    assert not framer.pending


def test_framer_joins_split_chunks():
    framer = ScanLineFramer()
    assert framer.feed(b"TR-") == [] and framer.pending
    assert framer.feed(b"77\r") == [Scan("TR-77")]
    assert framer.feed(b"\n") == []


def test_parse_line_strips_prefix_and_suffix():
    assert parse_line(b"\x02OP-7\x03", prefix=b"\x02", suffix=b"\x03") == Scan("OP-7")
    assert "configured prefix" in parse_line(b"OP-7\x03", prefix=b"\x02", suffix=b"\x03").message


def test_parse_line_names_non_printable_byte_and_column():
    assert parse_line(b"PC-\x071") == ReadError("non-printable byte 0x07 at column 4: b'PC-\\x071'")
    assert "non-ASCII byte 0xc3 at column 1" in parse_line("é".encode()).message


def test_framer_overlong_line_reported_once_then_recovers():
    framer = ScanLineFramer(max_line=512)
    assert framer.feed(b"A" * 4096) == []
    error = framer.flush_idle()
    assert error == ReadError("line too long: 4096 bytes without CR or LF (at most 512); dropped")
    assert framer.feed(b"PC-9\r\n") == [Scan("PC-9")]


def test_framer_overlong_line_ending_in_terminator():
    events = ScanLineFramer(max_line=8).feed(b"X" * 20 + b"\nPC-1\n")
    assert isinstance(events[0], ReadError) and "20 bytes" in events[0].message
    assert events[1:] == [Scan("PC-1")]


def test_framer_flush_idle_drops_unterminated_code():
    framer = ScanLineFramer()
    framer.feed(b"PC-12")
    assert framer.flush_idle() == ReadError("unfinished line b'PC-12' dropped (5 bytes, no CR or LF followed)")
    assert framer.flush_idle() is None


@given(st.lists(codes, min_size=1, max_size=8), st.sampled_from([b"\r", b"\n", b"\r\n"]), st.data())
def test_framer_any_split_gives_the_codes(texts, terminator, data):
    stream = b"".join(t.encode() + terminator for t in texts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    framer = ScanLineFramer(prefix=b"", suffix=b"")
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)]):
        events += framer.feed(stream[a:b])
    assert events == [Scan(t) for t in texts]


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=700), max_size=10), codes)
def test_framer_fuzz_never_crashes_and_next_scan_is_exact(garbage, text):
    framer = ScanLineFramer(max_line=512)
    for chunk in garbage:
        assert all(isinstance(e, (Scan, ReadError)) for e in framer.feed(chunk))
    framer.flush_idle()
    assert framer.feed(text.encode() + b"\r\n") == [Scan(text)]
