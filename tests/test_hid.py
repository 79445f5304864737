"""HID boot-keyboard report decoding: examples, round-trip properties and fuzz."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.hid import (KEY_ENTER, KEY_TAB, LAYOUTS, LEFT_SHIFT, RIGHT_SHIFT, US, HidDecoder,
                                 ReadError, Scan, decode_reports, encode_text, report)

CODE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-./_+ "
codes = st.text(alphabet=CODE_CHARS, min_size=1, max_size=40).filter(lambda s: s.strip())


def test_hid_decoder_reads_shifted_code_with_enter():
    reports = [report(LEFT_SHIFT, 0x13), report(0), report(RIGHT_SHIFT, 0x06), report(0),  # P C
               report(0, 0x2D), report(0), report(0, 0x1E), report(0), report(0, 0x27), report(0),  # - 1 0
               report(0, KEY_ENTER), report(0)]
    assert decode_reports(reports) == [Scan("PC-10")]


def test_hid_decoder_held_key_is_one_character():
    reports = [report(0, 0x04)] * 5 + [report(0), report(0, 0x04), report(0, KEY_TAB), report(0)]
    assert decode_reports(reports) == [Scan("aa")]


def test_hid_decoder_rollover_keeps_press_order():
    # b pressed while a still down, then c while b down: "abc", not "ab" nor "aabbc".
    reports = [report(0, 0x04), report(0, 0x04, 0x05), report(0, 0x05), report(0, 0x05, 0x06),
               report(0, 0x06, KEY_ENTER), report(0)]
    assert decode_reports(reports) == [Scan("abc")]


def test_hid_decoder_reports_unknown_key_instead_of_guessing():
    reports = [report(0, 0x04), report(0), report(0, 0x64), report(0), report(0, 0x05), report(0),
               report(0, KEY_ENTER), report(0)] + encode_text("OK")
    events = decode_reports(reports)
    assert isinstance(events[0], ReadError) and "unknown key code 0x64" in events[0].message
    assert events[1:] == [Scan("OK")]


def test_hid_decoder_rejects_ctrl_chord_and_short_report():
    assert "Ctrl/Alt/GUI" in decode_reports([report(0x01, 0x04), report(0, KEY_ENTER)])[0].message
    assert "report of 3 bytes" in decode_reports([b"\0\0\x04", report(0, KEY_ENTER)])[0].message


def test_hid_decoder_error_rollover_spoils_code_without_phantom_keys():
    reports = [report(0, 0x04), report(0, *[1] * 6), report(0, 0x04), report(0), report(0, KEY_ENTER)]
    events = decode_reports(reports)
    assert len(events) == 1 and "rollover error" in events[0].message


def test_hid_decoder_flush_idle_drops_partial_code():
    decoder = HidDecoder()
    for r in encode_text("PC-1", terminator=None):
        decoder.feed(r)
    error = decoder.flush_idle()
    assert error is not None and error.message == "unfinished code 'PC-1' dropped (4 characters, no Enter or Tab followed)"
    assert decoder.flush_idle() is None
    assert [e for r in encode_text("TR-2") for e in decoder.feed(r)] == [Scan("TR-2")]


def test_hid_decoder_bare_enter_is_not_a_scan():
    assert decode_reports([report(0, KEY_ENTER), report(0)]) == []


def test_hid_decoder_german_layout_swaps_y_and_z():
    de = LAYOUTS["de"]
    reports = [report(LEFT_SHIFT, 0x1C), report(0), report(0, 0x38), report(0), report(0, KEY_ENTER)]
    assert decode_reports(reports, de) == [Scan("Z-")]
    assert decode_reports(reports, US) == [Scan("Y/")]


@settings(max_examples=300)
@given(st.lists(codes, min_size=1, max_size=4), st.booleans(), st.integers(1, 3),
       st.sampled_from([LEFT_SHIFT, RIGHT_SHIFT]), st.sampled_from([KEY_ENTER, KEY_TAB]))
def test_hid_round_trip_any_code_any_typing_style(texts, rollover, repeat, shift, terminator):
    reports = [r for text in texts
               for r in encode_text(text, rollover=rollover, repeat=repeat, shift=shift, terminator=terminator)]
    assert decode_reports(reports) == [Scan(t) for t in texts]


@settings(max_examples=200)
@given(st.sampled_from(sorted(LAYOUTS)), st.data())
def test_hid_round_trip_every_layout(name, data):
    layout = LAYOUTS[name]
    alphabet = "".join(c for c in layout.characters if c.strip())
    texts = data.draw(st.lists(st.text(alphabet=alphabet, min_size=1, max_size=20), min_size=1, max_size=3))
    reports = [r for t in texts for r in encode_text(t, layout, rollover=data.draw(st.booleans()))]
    assert decode_reports(reports, layout) == [Scan(t) for t in texts]


@settings(max_examples=500)
@given(st.lists(st.binary(min_size=0, max_size=12), max_size=60), codes)
def test_hid_decoder_fuzz_never_crashes_and_recovers(garbage, text):
    decoder = HidDecoder(max_code=64)
    for chunk in garbage:
        for event in decoder.feed(chunk):
            assert isinstance(event, (Scan, ReadError))
    # Whatever came before, release everything, end any spoiled code; the next scan is exact.
    decoder.feed(report(0))
    decoder.feed(report(0, KEY_ENTER))
    events = [e for r in [report(0)] + encode_text(text) for e in decoder.feed(r)]
    assert events == [Scan(text)]
