#!/usr/bin/env python3
"""Start-up time with a large persisted state.

Starts `hearth serve` on a fresh data directory, creates SESSIONS persistent MQTT 3.1.1
sessions (clean session off) subscribed to `load/#`, disconnects them, publishes
MESSAGES QoS 1 messages (so SESSIONS x MESSAGES messages are queued for offline
sessions, each on disk), kills the hub with SIGKILL, and then times how long a restart
takes until it accepts connections again ("ready"), over a few restarts.

Usage: bench/startup.py [--sessions 1000] [--messages 100] [--restarts 3] [--hearth PATH]
Prints a small table; needs paho-mqtt 2.x. Loopback only, bounded counts.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt


def start(hearth, data_dir):
    began = time.monotonic()
    proc = subprocess.Popen(
        [hearth, "--log", "warn", "serve", "--allow-anonymous", "--print-addrs",
         "--mqtt", "127.0.0.1:0", "--ws", "off", "--http", "off", "--data-dir", data_dir],
        stdout=subprocess.PIPE, text=True)
    port = None
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("mqtt="):
            port = int(line.rsplit(":", 1)[1])
        if line == "ready":
            break
    return proc, port, time.monotonic() - began


def client(client_id, port, clean):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
                    protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port, keepalive=60)
    return c


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--hearth", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "hearth"))
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="hearth-startup-")
    proc, port, empty_start = start(args.hearth, data_dir)
    try:
        for n in range(args.sessions):
            c = client(f"offline-{n}", port, clean=False)
            subscribed = threading.Event()
            c.on_subscribe = lambda *_: subscribed.set()
            c.loop_start()
            c.subscribe("load/#", qos=1)
            if not subscribed.wait(10):
                raise SystemExit(f"no SUBACK for session {n}")
            c.disconnect()
            c.loop_stop()
        publisher = client("loader", port, clean=True)
        publisher.loop_start()
        infos = [publisher.publish("load/x", b"x" * 64, qos=1) for _ in range(args.messages)]
        for info in infos:
            info.wait_for_publish(timeout=60)
        publisher.loop_stop()
        size = os.path.getsize(os.path.join(data_dir, "broker.redb"))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    timings = []
    for _ in range(args.restarts):
        proc, port, took = start(args.hearth, data_dir)
        timings.append(took)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    queued = args.sessions * args.messages
    print(f"| state | start-up to ready |")
    print(f"|---|--:|")
    print(f"| empty data directory | {empty_start * 1000:.0f} ms |")
    for i, took in enumerate(timings, 1):
        print(f"| {args.sessions:,} sessions, {queued:,} queued QoS 1 messages, "
              f"{size / 1e6:.1f} MB file, restart {i} after SIGKILL | {took * 1000:.0f} ms |")


if __name__ == "__main__":
    sys.exit(main())
