"""Publish/subscribe round trip between two paho clients.

A subscriber subscribes to one topic at --sub-qos; a publisher sends --count numbered
messages ("0", "1", ...) at --pub-qos, then a sentinel ("end") on the same topic. The
subscriber reports every message that arrived before the sentinel, so duplicates and
reordering are visible. Each side can use its own protocol version, listener, transport
and TLS, which makes this one script cover round trips, cross-version delivery, QoS,
ordering, WebSocket and TLS.

Output: {"granted": [suback codes], "received": [message records], "sentinel": record}.
"""

import uuid

import mqttkit


def scenario(args):
    topic = args.topic or "pubsub/" + uuid.uuid4().hex[:8]
    subscriber = mqttkit.PahoClient(
        "sub-" + uuid.uuid4().hex[:8], mqttkit.side_endpoint(args, "sub"), version=args.sub_version
    )
    publisher = mqttkit.PahoClient(
        "pub-" + uuid.uuid4().hex[:8],
        mqttkit.side_endpoint(args, "pub"),
        version=args.pub_version,
        inflight=args.inflight,
    )
    subscriber.connect()
    granted = subscriber.subscribe([(topic, args.sub_qos)])
    publisher.connect()
    payload_padding = "x" * args.payload_size
    infos = [
        publisher.publish(topic, "%d%s" % (number, payload_padding), qos=args.pub_qos)
        for number in range(args.count)
    ]
    infos.append(publisher.publish(topic, "end", qos=args.pub_qos))
    publisher.wait_published(infos, timeout=args.timeout)
    received = subscriber.messages_until(payload="end", timeout=args.timeout)
    sentinel = subscriber.messages[len(received)]
    for message in received:
        message["payload"] = message["payload"][: len(message["payload"]) - args.payload_size]
    publisher.disconnect()
    subscriber.disconnect()
    return {"granted": granted, "received": received, "sentinel": sentinel}


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    mqttkit.add_side_options(arguments, "sub")
    mqttkit.add_side_options(arguments, "pub")
    arguments.add_argument("--topic", default=None, help="defaults to a fresh random topic")
    arguments.add_argument("--count", type=int, default=10)
    arguments.add_argument("--sub-qos", type=int, choices=[0, 1, 2], default=0)
    arguments.add_argument("--pub-qos", type=int, choices=[0, 1, 2], default=0)
    arguments.add_argument("--payload-size", type=int, default=0, help="padding bytes per message")
    arguments.add_argument("--inflight", type=int, default=20, help="publisher's in-flight window")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
