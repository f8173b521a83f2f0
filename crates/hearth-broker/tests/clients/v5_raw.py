"""MQTT 5 scenarios that need byte-level control, run over raw sockets.

Usage: v5_raw.py --port PORT --case CASE [--client-id ID] [--version 4|5]

Each case drives one behaviour (topic aliases towards the client, flow control, maximum
packet size, message expiry, will delay, a DISCONNECT from the broker...) and prints one
JSON object with what the clients observed; the Rust tests decide whether that is right.

Waiting for "nothing more arrives" uses a barrier instead of a pause: the client sends a
SUBSCRIBE and waits for its SUBACK. The broker handles one connection's packets in order
and writes its answers in order, so anything it was going to send before the SUBACK has
arrived by then. Exits 1 when a scenario cannot be carried out (a CONNACK or SUBACK
missing, a time-out while waiting for a message that must come).
"""

import argparse
import time

import raw_packets as raw
from raw_packets import RawClient

WAIT = 5.0


class Barrier:
    """Numbered SUBSCRIBE/SUBACK round trips on one client (see the module docs)."""

    def __init__(self, client, name):
        self.client = client
        self.name = name
        self.n = 0

    def collect(self):
        """Every packet that arrives before the barrier's SUBACK."""
        self.n += 1
        packet_id = 60000 + self.n
        self.client.send(raw.subscribe(packet_id, [(f"barrier/{self.name}/{self.n}", 0)]))
        before = []
        while True:
            got = self.client.next_of(raw.SUBACK, WAIT, skipped=before)
            if got["packet_id"] == packet_id:
                return before
            before.append(got)


def publishes(packets):
    return [p for p in packets if p.kind == raw.PUBLISH]


def publish_acknowledged(client, topic, payload, packet_id, props=()):
    """QoS 1 publish, waiting for the PUBACK: once it arrives the broker has routed it."""
    client.send(raw.publish(topic, payload, qos=1, packet_id=packet_id, props=props))
    puback = client.next_of(raw.PUBACK, WAIT, skipped=[])
    if puback["reason"] != 0:
        raise raw.Failure(f"publish to {topic} refused: {puback}")


def topic_alias_to_client(args):
    """A subscriber announcing Topic Alias Maximum 2 and one announcing none receive
    the same seven messages on three topics."""
    aliased = RawClient(args.port)
    aliased.connect("alias-to-client", props=[(raw.TOPIC_ALIAS_MAXIMUM, 2)])
    aliased.subscribe(1, [("alias/#", 0)])
    plain = RawClient(args.port)
    plain.connect("alias-plain")
    plain.subscribe(1, [("alias/#", 0)])
    publisher = RawClient(args.port)
    publisher.connect("alias-publisher")
    sent = ["alias/a", "alias/b", "alias/c", "alias/a", "alias/b", "alias/c", "alias/a"]
    for index, topic in enumerate(sent):
        publish_acknowledged(publisher, topic, f"m{index}".encode(), index + 1)

    def observe(client, name):
        wire, resolved, mapping = [], [], {}
        for packet in publishes(Barrier(client, name).collect()):
            alias = packet["properties"].get("topic_alias")
            wire.append({"topic": packet["topic"], "alias": alias})
            if alias is not None and packet["topic"]:
                mapping[alias] = packet["topic"]
            resolved.append(packet["topic"] or mapping.get(alias, f"<unknown alias {alias}>"))
        return {"wire": wire, "resolved": resolved}

    return {"sent": sent, "aliased": observe(aliased, "aliased"), "plain": observe(plain, "plain")}


def receive_maximum(args):
    """A subscriber with Receive Maximum 2 withholds PUBACKs while five QoS 1 messages
    are published, then acknowledges one, then all."""
    subscriber = RawClient(args.port)
    subscriber.connect("flow-sub", props=[(raw.RECEIVE_MAXIMUM, 2)])
    subscriber.subscribe(1, [("flow/t", 1)])
    barrier = Barrier(subscriber, "flow")
    publisher = RawClient(args.port)
    publisher.connect("flow-pub")
    for index in range(1, 6):
        publish_acknowledged(publisher, "flow/t", f"m{index}".encode(), index)

    unacked = publishes(barrier.collect())
    before_ack = [p["payload"] for p in unacked]
    if not unacked:
        raise raw.Failure("no message arrived at all")
    subscriber.send(raw.ack(raw.PUBACK, unacked[0]["packet_id"]))
    unacked = unacked[1:]
    after_one = publishes(barrier.collect())
    after_one_ack = [p["payload"] for p in after_one]
    unacked += after_one

    everything = before_ack + after_one_ack
    deadline = time.monotonic() + WAIT
    while len(everything) < 5 and time.monotonic() < deadline:
        for packet in unacked:
            subscriber.send(raw.ack(raw.PUBACK, packet["packet_id"]))
        unacked = publishes(barrier.collect())
        everything += [p["payload"] for p in unacked]
    return {"before_ack": before_ack, "after_one_ack": after_one_ack, "all": everything}


def maximum_packet_size(args):
    """A subscriber with Maximum Packet Size 100 is sent a 200-byte and a 10-byte
    message, at QoS 0 and at QoS 1."""
    subscriber = RawClient(args.port)
    subscriber.connect("mps-sub", props=[(raw.MAXIMUM_PACKET_SIZE, 100)])
    subscriber.subscribe(1, [("mps/q0/#", 0), ("mps/q1/#", 1)])
    publisher = RawClient(args.port)
    publisher.connect("mps-pub")
    publish_acknowledged(publisher, "mps/q0/big", b"B" * 200, 1)
    publish_acknowledged(publisher, "mps/q0/small", b"small", 2)
    publish_acknowledged(publisher, "mps/q1/big", b"B" * 200, 3)
    publish_acknowledged(publisher, "mps/q1/small", b"small", 4)
    received = publishes(Barrier(subscriber, "mps").collect())
    for packet in received:
        if packet["qos"] > 0:
            subscriber.send(raw.ack(raw.PUBACK, packet["packet_id"]))
    subscriber.ping()
    return {"received": [{"topic": p["topic"], "size": len(p["payload"])} for p in received]}


def suback_reason_codes(args):
    """One SUBSCRIBE with an allowed, a denied and two invalid filters. The broker's
    authorizer (set up by the test) denies everything under `forbidden/`."""
    client = RawClient(args.port, version=args.version)
    client.connect("suback-codes")
    filters = [("ok/#", 1), ("forbidden/#", 1), ("bad/#/x", 1), ("bad+", 0)]
    if args.version != 5:
        filters = filters[:2]
    suback = client.subscribe(1, filters)
    client.ping()
    return {"filters": [f for f, _ in filters], "reasons": suback["reasons"]}


def wait_for_kick(args):
    """Connects as --client-id and waits for the broker to end the connection (the
    test calls BrokerHandle::disconnect_client meanwhile)."""
    client = RawClient(args.port, version=args.version)
    client.connect(args.client_id)
    return client.collect_until_closed(15.0)


def message_expiry(args):
    """Three QoS 1 messages queue for an offline persistent session: one expiring after
    1 s, one after 60 s, one never. The subscriber comes back after a little more than
    2 s and reports each message with the Message Expiry Interval it carried."""
    subscriber = RawClient(args.port)
    subscriber.connect("mexp-sub", props=[(raw.SESSION_EXPIRY_INTERVAL, 300)])
    subscriber.subscribe(1, [("mexp/t", 1)])
    subscriber.send(raw.disconnect())
    subscriber.collect_until_closed(WAIT)

    publisher = RawClient(args.port)
    publisher.connect("mexp-pub")
    publish_acknowledged(publisher, "mexp/t", b"short", 1, props=[(raw.MESSAGE_EXPIRY_INTERVAL, 1)])
    publish_acknowledged(publisher, "mexp/t", b"long", 2, props=[(raw.MESSAGE_EXPIRY_INTERVAL, 60)])
    publish_acknowledged(publisher, "mexp/t", b"forever", 3)
    # Time has to pass for expiry to mean anything; the assertions only rely on "at least".
    time.sleep(2.2)

    subscriber = RawClient(args.port)
    connack = subscriber.connect("mexp-sub", clean_start=False,
                                 props=[(raw.SESSION_EXPIRY_INTERVAL, 0)])
    received = publishes(Barrier(subscriber, "mexp").collect())
    for packet in received:
        subscriber.send(raw.ack(raw.PUBACK, packet["packet_id"]))
    subscriber.send(raw.disconnect())
    return {
        "session_present": connack["session_present"],
        "waited_secs": 2.2,
        "received": [
            {"payload": p["payload"], "expiry": p["properties"].get("message_expiry_interval")}
            for p in received
        ],
    }


def will_client(port, client_id, topic, delay, clean_start=True):
    client = RawClient(port)
    will = {"topic": topic, "payload": b"gone", "qos": 1,
            "props": [(raw.WILL_DELAY_INTERVAL, delay)]}
    client.connect(client_id, clean_start=clean_start, will=will,
                   props=[(raw.SESSION_EXPIRY_INTERVAL, 30)])
    return client


def will_delay(args):
    """A client with a 1 s Will Delay Interval drops its connection without DISCONNECT;
    a watcher reports when the will arrived, counted from just before the drop."""
    watcher = RawClient(args.port)
    watcher.connect("will-watcher")
    watcher.subscribe(1, [("will/#", 1)])
    client = will_client(args.port, "will-delayed", "will/delayed", 1)
    dropped_at = time.monotonic()
    client.close()
    message = watcher.next_of(raw.PUBLISH, 10.0, skipped=[])
    return {"topic": message["topic"], "payload": message["payload"],
            "elapsed_secs": round(time.monotonic() - dropped_at, 3)}


def will_cancelled(args):
    """A client drops its connection with a will delayed 2 s, reconnects at once (with
    a second will delayed 3 s) and drops again. Wills arrive in the order of their
    deadlines, so if the first one were still pending it would arrive before the
    second: the watcher reports every will topic up to the second one."""
    watcher = RawClient(args.port)
    watcher.connect("will-watcher")
    watcher.subscribe(1, [("will/#", 1)])
    first = will_client(args.port, "will-returning", "will/first", 2)
    first.close()
    again = will_client(args.port, "will-returning", "will/second", 3, clean_start=False)
    again.close()
    topics = []
    deadline = time.monotonic() + 10.0
    while "will/second" not in topics and time.monotonic() < deadline:
        message = watcher.next_of(raw.PUBLISH, max(0.0, deadline - time.monotonic()), skipped=[])
        topics.append(message["topic"])
        watcher.send(raw.ack(raw.PUBACK, message["packet_id"]))
    return {"will_topics": topics}


def server_keep_alive(args):
    """CONNACKs for a client asking for keep-alive 60 s and one asking for 0 (none)."""
    connacks = {}
    for keep_alive in (60, 0):
        client = RawClient(args.port)
        connack = client.connect(f"keepalive-{keep_alive}", keep_alive=keep_alive)
        connacks[str(keep_alive)] = connack.to_json()
        client.send(raw.disconnect())
        client.close()
    return connacks


CASES = {
    "topic_alias_to_client": topic_alias_to_client,
    "receive_maximum": receive_maximum,
    "maximum_packet_size": maximum_packet_size,
    "suback_reason_codes": suback_reason_codes,
    "wait_for_kick": wait_for_kick,
    "message_expiry": message_expiry,
    "will_delay": will_delay,
    "will_cancelled": will_cancelled,
    "server_keep_alive": server_keep_alive,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    parser.add_argument("--client-id", default="v5-raw")
    parser.add_argument("--version", type=int, choices=(4, 5), default=5)
    args = parser.parse_args()
    return dict(CASES[args.case](args), case=args.case)


if __name__ == "__main__":
    raw.run_script(main)
