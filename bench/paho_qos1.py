"""Baseline for bench/telemetry.py: paho-mqtt alone publishing QoS 1 as fast as it acknowledges.

No serial port, no outbox, no disk: ``n`` ready-made readings published through paho's public
API, driven the way benchpin's sender drives it (``loop_read``/``loop_write`` on one thread, at
most ``window`` unacknowledged, each batch corked with ``TCP_CORK``). What it costs is the
floor for any gateway that sends every reading as its own QoS 1 message through paho.
Prints one JSON line: readings/s and CPU seconds per 10,000 readings.

Run: ``.venv/bin/python bench/paho_qos1.py <broker port> <n> [<readings per message>]``.
"""

import json
import select
import socket
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

port, n = int(sys.argv[1]), int(sys.argv[2])
per_message = int(sys.argv[3]) if len(sys.argv) > 3 else 1
reading = b'{"ts":"2026-12-03T17:14:33.303Z","seq":12345,"value_c":1052.25,"fault":null}'
payload = reading if per_message == 1 else b"[" + b",".join([reading] * per_message) + b"]"
messages = -(-n // per_message)
window = 1000

client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paho-qos1-bench", protocol=mqtt.MQTTv311)
client.max_inflight_messages_set(0)
client.max_queued_messages_set(0)
acked = 0


def on_publish(*_args: object) -> None:
    global acked
    acked += 1


client.on_publish = on_publish
client.connect("127.0.0.1", port)
deadline = time.monotonic() + 10
while not client.is_connected() and time.monotonic() < deadline:
    client.loop_read()
    client.loop_write()
    time.sleep(0.01)
sock = client.socket()
assert isinstance(sock, socket.socket)
cpu0, t0 = time.process_time(), time.monotonic()
sent = 0
while acked < messages:
    room = min(window - (sent - acked), messages - sent)
    if room >= window // 4 or (room > 0 and sent == acked):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        for _message in range(room):
            client.publish("benchpin/bench/gw/probe/p1/temperature", payload, qos=1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        sent += room
    readable = select.select([sock], [sock] if client.want_write() else [], [], 1.0)[0]
    if readable:
        client.loop_read()
    if client.want_write():
        client.loop_write()
cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
client.disconnect()
print(json.dumps({"readings_per_s": messages * per_message / wall,
                  "cpu_s_per_10k": cpu / (messages * per_message) * 10_000}))
