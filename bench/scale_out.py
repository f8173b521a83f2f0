#!/usr/bin/env python3
"""Devices for bench/scale-out.sh (issue 21, docs/scale.md "Sizing a cluster").

Each of the first N lines of an `id:secret` file (what `hearth bench login-fleet
--credentials` writes) becomes an MQTT 3.1.1 connection to the broker, logged in as that
device, publishing M QoS 1 readings on `devices/{id}/data` with up to W unacknowledged
at a time. Returns when every PUBACK has come; prints one JSON line: published,
acknowledged, seconds, errors.

    bench/scale_out.py --port 1883 --credentials creds --devices 100 --messages 300
"""
import argparse, asyncio, json, struct, time


def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def connect_packet(client_id, user, password):
    # Protocol level 4, flags: user name, password, clean session.
    body = string("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 60)
    body += string(client_id) + string(user) + string(password)
    return b"\x10" + varint(len(body)) + body


def publish_packet(topic, packet_id, payload):
    body = string(topic) + struct.pack(">H", packet_id) + payload
    return b"\x32" + varint(len(body)) + body


async def read_packet(reader):
    first = await reader.readexactly(1)
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return first[0] >> 4, await reader.readexactly(length)


async def device(port, device_id, secret, messages, window, counts, errors):
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(connect_packet(device_id, device_id, secret))
        kind, body = await read_packet(reader)
        if kind != 2 or body[1] != 0:
            errors.append(f"{device_id}: CONNACK {body!r}")
            writer.close()
            return
        topic = f"devices/{device_id}/data"
        sent = acked = 0
        while acked < messages:
            while sent < messages and sent - acked < window:
                payload = json.dumps({"n": sent, "temperature": 20 + sent % 10}).encode()
                writer.write(publish_packet(topic, sent % 65535 + 1, payload))
                sent += 1
            await writer.drain()
            kind, body = await read_packet(reader)
            if kind == 4:
                acked += 1
                counts[0] += 1
        writer.write(b"\xe0\x00")  # DISCONNECT
        await writer.drain()
        writer.close()
    except (OSError, asyncio.IncompleteReadError) as error:
        errors.append(f"{device_id}: {error!r}")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=300)
    args = parser.parse_args()
    logins = []
    with open(args.credentials) as lines:
        for line in lines:
            if ":" in line and len(logins) < args.devices:
                device_id, secret = line.strip().split(":", 1)
                logins.append((device_id, secret))
    counts, errors = [0], []
    start = time.monotonic()
    tasks = [
        device(args.port, device_id, secret, args.messages, args.window, counts, errors)
        for device_id, secret in logins
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), args.deadline)
    except asyncio.TimeoutError:
        errors.append(f"deadline of {args.deadline} s reached")
    print(json.dumps({
        "published": len(logins) * args.messages,
        "acknowledged": counts[0],
        "seconds": round(time.monotonic() - start, 3),
        "errors": errors[:10],
    }))


if __name__ == "__main__":
    asyncio.run(main())
