"""Baseline for bench/telemetry.py: a naive chunked pyserial read + paho QoS 0 loop (no durability)."""

import json
import sys
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import serial
from paho.mqtt.enums import CallbackAPIVersion

port_path, broker_port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="naive-gateway")
client.max_queued_messages_set(0)
client.connect_async("127.0.0.1", broker_port)
client.loop_start()
probe = serial.Serial(port_path, 9600, timeout=0.2)
seq = 0
rest = b""
while True:
    chunk = probe.read(probe.in_waiting or 1)
    if not chunk:
        continue
    *lines, rest = (rest + chunk).split(b"\n")
    for line in lines:
        try:
            value = float(line.decode("ascii").strip().split("*")[0].split("=", 1)[1])
        except (UnicodeDecodeError, IndexError, ValueError):
            continue
        seq += 1
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        payload = {"ts": ts, "seq": seq, "value_c": value, "fault": None}
        client.publish(topic, json.dumps(payload), qos=0)
