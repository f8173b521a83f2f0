"""Topic filters with `+` and `#`, and topics starting with `$`.

Cases (--case):
- wildcards: one client per filter in --filters (each also subscribed to the sentinel
  topic "end"); a publisher sends one QoS 1 message to each topic in --topics, then the
  sentinel. Reports, per filter, the topics that client received.
- dollar: waits until a `$SYS/#` subscriber has a `$SYS` message (so retained `$SYS`
  topics exist), subscribes one client per filter in --filters, waits for the `$SYS/#`
  subscriber to get a live (non-retained) `$SYS` update computed after those
  subscriptions (which every matching subscription was offered at the same moment),
  then publishes the sentinel "end".
  Reports, per filter, the topics received before the sentinel.

Output: {"received": {filter: [topics]}, "sys_topics": [topics the $SYS/# client got]}.
"""

import uuid

import mqttkit

SENTINEL = "end"


def subscribers_for(args, endpoint, filters):
    clients = {}
    for topic_filter in filters:
        client = mqttkit.PahoClient("wc-" + uuid.uuid4().hex[:8], endpoint, version=args.version)
        client.connect()
        granted = client.subscribe([(topic_filter, 1), (SENTINEL, 1)])
        if any(code >= 0x80 for code in granted):
            raise mqttkit.Failure("subscription to %r refused: %r" % (topic_filter, granted))
        clients[topic_filter] = client
    return clients


def received_topics(clients):
    return {
        topic_filter: [message["topic"] for message in client.messages_until(topic=SENTINEL)]
        for topic_filter, client in clients.items()
    }


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    publisher = mqttkit.PahoClient("wcpub-" + uuid.uuid4().hex[:8], endpoint, version=args.version)
    publisher.connect()
    sys_topics = []
    if args.case == "wildcards":
        clients = subscribers_for(args, endpoint, args.filters)
        publisher.wait_published([publisher.publish(topic, topic, qos=1) for topic in args.topics])
    else:
        sys_watcher = mqttkit.PahoClient("wcsys-" + uuid.uuid4().hex[:8], endpoint, version=args.version)
        sys_watcher.connect()
        sys_watcher.subscribe([("$SYS/#", 0)])
        sys_watcher.wait_for(lambda: sys_watcher.messages, "any $SYS message")
        clients = subscribers_for(args, endpoint, args.filters)
        # $SYS values routed before those subscriptions existed may still be on their way
        # to the watcher. Its own marker (QoS 0, like $SYS) queues behind them, so a live
        # update after the marker was offered to every subscription above.
        marker = "dollar-marker/" + uuid.uuid4().hex[:8]
        sys_watcher.subscribe([(marker, 0)])
        sys_watcher.publish(marker, "marker", qos=0)
        sys_watcher.wait_for(lambda: any(m["topic"] == marker for m in sys_watcher.messages), "the marker")
        seen = next(i for i, message in enumerate(sys_watcher.messages) if message["topic"] == marker)

        def live_update():
            return any(
                message["topic"].startswith("$SYS/") and not message["retain"]
                for message in sys_watcher.messages[seen:]
            )

        sys_watcher.wait_for(live_update, "a live $SYS update after subscribing")
        sys_topics = sorted({m["topic"] for m in sys_watcher.messages if m["topic"].startswith("$SYS/")})
        sys_watcher.disconnect()
    publisher.publish_and_wait(SENTINEL, SENTINEL, qos=1)
    result = {"received": received_topics(clients), "sys_topics": sys_topics}
    for client in clients.values():
        client.disconnect()
    publisher.disconnect()
    return result


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--case", choices=["wildcards", "dollar"], required=True)
    arguments.add_argument("--version", choices=sorted(mqttkit.VERSIONS), default="311")
    arguments.add_argument("--filters", nargs="+", required=True)
    arguments.add_argument("--topics", nargs="*", default=[])
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
