#!/usr/bin/env python3
"""A flooding client beside well-behaved ones (issue 16, docs/limits.md).

Opens N MQTT 3.1.1 connections (default 1,000), each publishing one QoS 1 message a
second for D seconds, and measures publish -> PUBACK latency and throughput of those
well-behaved clients; optionally runs a flooder at the same time (mosquitto_pub -l fed by
`yes`, QoS 1, as fast as it goes) in its own process. Prints one JSON line.

    bench/flood.py --port 1883 [--clients 1000] [--duration 30] [--flood]

Anonymous clients are their own principals (client id = name), so run the hub with
--allow-anonymous and an [mqtt.rate_limits.anonymous] table to give them a budget.
"""
import argparse, asyncio, json, os, signal, struct, subprocess, time


def remaining(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def connect_packet(client_id):
    body = string("MQTT") + bytes([4, 0x02]) + struct.pack(">H", 60) + string(client_id)
    return bytes([0x10]) + remaining(len(body)) + body


def publish_packet(topic, packet_id, payload):
    body = string(topic) + struct.pack(">H", packet_id) + payload
    return bytes([0x32]) + remaining(len(body)) + body


async def read_packet(reader):
    header = await reader.readexactly(1)
    length, shift = 0, 0
    while True:
        b = (await reader.readexactly(1))[0]
        length += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return header[0], await reader.readexactly(length)


async def calm_client(port, index, start, duration, latencies, errors):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(connect_packet(f"calm-{index}"))
        kind, body = await read_packet(reader)
        if kind >> 4 != 2 or body[1] != 0:
            errors.append(f"connack {body!r}")
            return
        # Spread the clients over the first second.
        await asyncio.sleep(max(0.0, start + (index % 1000) / 1000 - time.monotonic()))
        packet_id = 0
        end = start + duration
        next_send = time.monotonic()
        while next_send < end:
            packet_id = packet_id % 65535 + 1
            sent = time.monotonic()
            writer.write(publish_packet(f"calm/{index}", packet_id, b'{"v":1}'))
            while True:
                kind, body = await read_packet(reader)
                if kind >> 4 == 4 and struct.unpack(">H", body[:2])[0] == packet_id:
                    break
            latencies.append(time.monotonic() - sent)
            next_send += 1.0
            await asyncio.sleep(max(0.0, next_send - time.monotonic()))
        writer.write(b"\xe0\x00")
        await writer.drain()
        writer.close()
    except Exception as error:  # noqa: BLE001 - counted and reported
        errors.append(repr(error))


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--flood", action="store_true")
    args = parser.parse_args()
    flooder = counter = None
    if args.flood:
        # Counts what the flooder got through (a C client, so that counting costs little).
        counted = open(f"/tmp/flood-count-{os.getpid()}", "w+")
        counter = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(args.port), "-i", "flood-counter",
             "-t", "flood/1", "-q", "0"], stdout=counted, stderr=subprocess.DEVNULL)
        await asyncio.sleep(0.5)
        flooder = subprocess.Popen(
            f"yes '{{\"v\":1}}' | mosquitto_pub -V mqttv311 -h 127.0.0.1 -p {args.port} "
            f"-i flooder -t flood/1 -q 1 -l",
            shell=True, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies, errors = [], []
    start = time.monotonic() + 2
    tasks = [calm_client(args.port, i, start, args.duration, latencies, errors)
             for i in range(args.clients)]
    await asyncio.gather(*tasks)
    flooded = None
    if flooder is not None:
        os.killpg(flooder.pid, signal.SIGTERM)
        flooder.wait()
        await asyncio.sleep(0.5)
        counter.terminate()
        counter.wait()
        counted.seek(0)
        flooded = sum(1 for _ in counted)
        counted.close()
        os.unlink(counted.name)
    print(json.dumps({
        "clients": args.clients,
        "flood": args.flood,
        "acked": len(latencies),
        "acked_per_sec": round(len(latencies) / args.duration, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2) if latencies else None,
        "flooder_per_sec": round(flooded / (args.duration + 2), 1) if flooded is not None else None,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }))


asyncio.run(main())
