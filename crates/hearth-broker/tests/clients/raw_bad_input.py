"""Sends one kind of bad input to the broker over raw sockets and reports what it did.

Usage: raw_bad_input.py --port PORT --case CASE

Before the bad input, a well-behaved "witness" client (MQTT 5) connects and subscribes;
afterwards it publishes a QoS 1 message to itself, and a brand-new client connects, to
show that the bad input cost nobody but the offender. Prints one JSON object:

    {"case": ..., "runs": {"5": OBS, "4": OBS} or {"any": OBS},
     "witness": "ok" | what went wrong, "new_connection": "ok" | what went wrong}

where OBS has "connack" (the bad client's CONNACK, if any), "packets" (everything the
broker sent after it), "closed" (whether the broker closed the connection within the
wait) and "disconnect_reason" (of the first DISCONNECT, if any). "5" is a run on an
MQTT 5 connection, "4" on MQTT 3.1.1; "any" is a run before any CONNECT was accepted.
Exits 1 only when the script itself could not run (e.g. the witness cannot connect).
"""

import argparse
import random
import struct

import raw_packets as raw
from raw_packets import RawClient

# How long to wait for the broker to close a connection it should close.
CLOSE_WAIT = 5.0
TEN_MEGABYTES = 10 * 1024 * 1024


def connected(port, version, client_id):
    """A client that has completed CONNECT; returns (client, CONNACK as JSON)."""
    client = RawClient(port, version=version)
    connack = client.connect(client_id)
    return client, connack.to_json()


def send_after_connect(port, version, name, data, wait=CLOSE_WAIT):
    """Connects, sends `data`, and reports what happens until the connection closes."""
    client, connack = connected(port, version, f"bad-{name}-v{version}")
    client.send_unchecked(data)
    observed = client.collect_until_closed(wait)
    client.close()
    return dict(observed, connack=connack)


def send_before_connect(port, data, version=5, half_close=False, wait=CLOSE_WAIT):
    """Sends `data` as the very first bytes and reports what happens."""
    client = RawClient(port, version=version)
    client.send_unchecked(data)
    if half_close:
        client.half_close()
    observed = client.collect_until_closed(wait)
    client.close()
    connacks = [p for p in observed["packets"] if p["type"] == "CONNACK"]
    return dict(observed, connack=connacks[0] if connacks else None)


def v5_connect_body(properties_block):
    """A CONNECT body with a caller-made property block (which may be garbage)."""
    return (raw.utf8("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + properties_block
            + raw.utf8("bad-properties"))


# Each case takes (port, version) and returns one observation. Payload-only cases are
# written as lambdas; the table at the bottom says which versions each one runs on.


def remaining_length_too_long(port, version):
    # Five bytes of remaining length: the fifth continuation is malformed (v5 1.5.5).
    return send_after_connect(port, version, "varint", bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))


def topic_invalid_utf8(port, version):
    data = raw.publish(b"bad/\xff\xfe", b"x", version=version)
    return send_after_connect(port, version, "utf8", data)


def topic_with_nul(port, version):
    data = raw.publish(b"bad/\x00/topic", b"x", version=version)
    return send_after_connect(port, version, "nul", data)


def topic_with_wildcard(port, version):
    data = raw.publish("bad/+/topic", b"x", version=version)
    return send_after_connect(port, version, "wildcard", data)


def subscribe_reserved_flags(port, version):
    # SUBSCRIBE must have flags 0b0010 (v5 2.1.3); 0b0000 is malformed.
    data = raw.subscribe(1, [("ok/#", 0)], version=version, flags=0x00)
    return send_after_connect(port, version, "subflags", data)


def publish_qos3(port, version):
    properties = raw.properties([]) if version == 5 else b""
    body = raw.utf8("q/3") + struct.pack("!H", 7) + properties + b"x"
    return send_after_connect(port, version, "qos3", raw.packet(0x36, body))


def dup_on_qos0(port, version):
    data = raw.publish("d/0", b"x", qos=0, dup=True, version=version)
    return send_after_connect(port, version, "dup", data)


def packet_id_zero(port, version):
    data = raw.publish("p/0", b"x", qos=1, packet_id=0, version=version)
    return send_after_connect(port, version, "pid0", data)


def second_connect(port, version):
    data = raw.connect(f"bad-second-v{version}", version=version)
    return send_after_connect(port, version, "second", data)


def too_large_after_connect(port, version):
    # Only the fixed header, announcing ten megabytes: the broker must answer before
    # the body, which never comes.
    return send_after_connect(port, version, "large", bytes([0x30]) + raw.varint(TEN_MEGABYTES))


def too_large_connect(port, _version):
    return send_before_connect(port, bytes([0x10]) + raw.varint(TEN_MEGABYTES))


def first_packet_not_connect(port, _version):
    return send_before_connect(port, raw.publish("no/connect", b"x", version=4), version=4)


def unsupported_protocol_level(port, _version):
    data = raw.connect("bad-level", version=6)
    return send_before_connect(port, data, version=4)


def v5_connect_garbage_properties(port, _version):
    # Property length 5, then identifier 255 (unknown) and junk.
    block = raw.varint(5) + bytes([0xFF, 0x01, 0x02, 0x03, 0x04])
    return send_before_connect(port, raw.packet(0x10, v5_connect_body(block)))


def no_connect(port, _version):
    # The broker is configured with a 1 s connect timeout; nothing is sent at all.
    return send_before_connect(port, b"")


def partial_connect(port, _version):
    # The first five bytes of a CONNECT, then nothing: a slow-loris client.
    return send_before_connect(port, raw.connect("bad-partial")[:5])


def pubrel_unknown_id(port, version):
    client, connack = connected(port, version, f"bad-pubrel-v{version}")
    client.send(raw.ack(raw.PUBREL, 4242))
    pubcomp = client.expect(raw.PUBCOMP)
    client.ping()
    client.close()
    return {"connack": connack, "packets": [pubcomp.to_json()], "closed": False,
            "disconnect_reason": None, "still_open": True}


def garbage_runs(port, version):
    """Random bytes (seeded, so a failure can be replayed) from several connections,
    each followed by a half-close so that the broker sees the end of the stream even if
    the garbage happens to announce a long packet."""
    runs = []
    for seed in range(1, 6):
        garbage = random.Random(seed).randbytes(300)
        if version is None:
            runs.append(dict(send_before_connect(port, garbage, half_close=True), seed=seed))
        else:
            client, connack = connected(port, version, f"bad-garbage-{seed}")
            client.send_unchecked(garbage)
            client.half_close()
            runs.append(dict(client.collect_until_closed(CLOSE_WAIT), connack=connack, seed=seed))
            client.close()
    return {"runs": runs, "closed": all(run["closed"] for run in runs)}


def receive_maximum_exceeded(port, version):
    # The broker is configured with a Receive Maximum of 2; three QoS 2 messages without
    # PUBREL are three unacknowledged at once (v5 3.3.4).
    data = b"".join(raw.publish("rm/x", b"x", qos=2, packet_id=packet_id, version=version)
                    for packet_id in (1, 2, 3))
    return send_after_connect(port, version, "recvmax", data)


def topic_alias_zero(port, version):
    data = raw.publish("ta/x", b"x", props=[(raw.TOPIC_ALIAS, 0)], version=version)
    return send_after_connect(port, version, "alias0", data)


def topic_alias_above_maximum(port, version):
    client, connack = connected(port, version, "bad-alias-max")
    maximum = connack.get("properties", {}).get("topic_alias_maximum", 0)
    client.send(raw.publish("ta/x", b"x", props=[(raw.TOPIC_ALIAS, maximum + 1)]))
    observed = client.collect_until_closed(CLOSE_WAIT)
    client.close()
    return dict(observed, connack=connack, alias_sent=maximum + 1)


def topic_alias_unknown(port, version):
    data = raw.publish("", b"x", props=[(raw.TOPIC_ALIAS, 1)], version=version)
    return send_after_connect(port, version, "alias-unknown", data)


def auth_without_method(port, version):
    return send_after_connect(port, version, "auth", raw.auth())


CASES = {
    "remaining_length_too_long": (remaining_length_too_long, [5, 4]),
    "topic_invalid_utf8": (topic_invalid_utf8, [5, 4]),
    "topic_with_nul": (topic_with_nul, [5, 4]),
    "topic_with_wildcard": (topic_with_wildcard, [5, 4]),
    "subscribe_reserved_flags": (subscribe_reserved_flags, [5, 4]),
    "publish_qos3": (publish_qos3, [5, 4]),
    "dup_on_qos0": (dup_on_qos0, [5, 4]),
    "packet_id_zero": (packet_id_zero, [5, 4]),
    "second_connect": (second_connect, [5, 4]),
    "too_large_after_connect": (too_large_after_connect, [5, 4]),
    "too_large_connect": (too_large_connect, [None]),
    "first_packet_not_connect": (first_packet_not_connect, [None]),
    "unsupported_protocol_level": (unsupported_protocol_level, [None]),
    "v5_connect_garbage_properties": (v5_connect_garbage_properties, [None]),
    "no_connect": (no_connect, [None]),
    "partial_connect": (partial_connect, [None]),
    "pubrel_unknown_id": (pubrel_unknown_id, [5, 4]),
    "garbage": (garbage_runs, [None, 5]),
    "receive_maximum_exceeded": (receive_maximum_exceeded, [5]),
    "topic_alias_zero": (topic_alias_zero, [5]),
    "topic_alias_above_maximum": (topic_alias_above_maximum, [5]),
    "topic_alias_unknown": (topic_alias_unknown, [5]),
    "auth_without_method": (auth_without_method, [5]),
}


def check_witness(witness):
    """The witness publishes QoS 1 to its own subscription and must get both the PUBACK
    and the message back."""
    try:
        witness.send(raw.publish("witness/echo", b"still alive", qos=1, packet_id=9))
        skipped = []
        puback = witness.next_of(raw.PUBACK, skipped=skipped)
        if puback["reason"] != 0:
            return f"PUBACK reason {puback['reason']:#x}"
        messages = [p for p in skipped if p.kind == raw.PUBLISH]
        if not messages:
            messages.append(witness.next_of(raw.PUBLISH, skipped=[]))
        if messages[0]["payload"] != "still alive":
            return f"unexpected message {messages[0]}"
        return "ok"
    except (raw.Failure, raw.Closed, OSError) as error:
        return f"{type(error).__name__}: {error}"


def check_new_connection(port):
    try:
        client = RawClient(port)
        client.connect("bad-input-newcomer")
        client.send(raw.disconnect())
        client.close()
        return "ok"
    except (raw.Failure, raw.Closed, OSError) as error:
        return f"{type(error).__name__}: {error}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    args = parser.parse_args()

    witness = RawClient(args.port)
    witness.connect("bad-input-witness")
    suback = witness.subscribe(1, [("witness/echo", 1)])
    if suback["reasons"] != [1]:
        raise raw.Failure(f"witness could not subscribe: {suback}")

    case, versions = CASES[args.case]
    runs = {}
    for version in versions:
        runs[str(version) if version else "any"] = case(args.port, version)
    return {
        "case": args.case,
        "runs": runs,
        "witness": check_witness(witness),
        "new_connection": check_new_connection(args.port),
    }


if __name__ == "__main__":
    raw.run_script(main)
