"""`$SYS/broker/...`: what a client subscribed to `$SYS/broker/#` reads.

A watcher subscribes to `$SYS/broker/#` and a second client connects, so at least two
clients are connected. The script waits for a live (non-retained) update of the uptime
and records the latest value of every topic as "before". The second client then
publishes --retained retained messages (QoS 1, acknowledged); the watcher then sends
itself a marker, and the script waits for the first live update of the retained message
count after the marker and records "after".

Output: {"before": {topic: value}, "after": {topic: value}, "retained_on_subscribe": [topics
that first arrived with the retain flag]}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    run_id = uuid.uuid4().hex[:8]
    watcher = mqttkit.PahoClient("sys-" + run_id, endpoint)
    watcher.connect()
    watcher.subscribe([("$SYS/broker/#", 0)])
    other = mqttkit.PahoClient("sysother-" + run_id, endpoint)
    other.connect()

    def values_after_live_update(topic, start):
        def arrived():
            return any(message["topic"] == topic and not message["retain"] for message in watcher.messages[start:])

        watcher.wait_for(arrived, "a live update of " + topic)
        with watcher.lock:
            return {message["topic"]: message["payload"] for message in watcher.messages}

    # Uptime changes every interval, so a live update of it always comes.
    before = values_after_live_update("$SYS/broker/uptime", 0)
    for number in range(args.retained):
        other.publish_and_wait("sys-test/%s/%d" % (run_id, number), "kept", qos=1, retain=True)
    # A round of $SYS values computed before the publishes may still be on its way. The
    # watcher's own marker, published now at QoS 0 like $SYS, is queued behind it: what
    # arrives after the marker was computed after the publishes.
    marker = "sys-test/%s/marker" % run_id
    watcher.subscribe([(marker, 0)])
    watcher.publish(marker, "marker", qos=0)
    watcher.wait_for(lambda: any(message["topic"] == marker for message in watcher.messages), "the marker")
    with watcher.lock:
        mark = next(i for i, message in enumerate(watcher.messages) if message["topic"] == marker)
    # The retained count changed, so a live update of it comes whether the broker
    # publishes every value each interval or only those that changed.
    after = values_after_live_update("$SYS/broker/retained messages/count", mark)
    retained_on_subscribe = sorted({message["topic"] for message in watcher.messages if message["retain"]})
    watcher.disconnect()
    other.disconnect()
    return {"before": before, "after": after, "retained_on_subscribe": retained_on_subscribe}


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--retained", type=int, default=3, help="retained messages to publish")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
