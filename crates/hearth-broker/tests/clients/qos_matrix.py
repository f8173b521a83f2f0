"""Delivered QoS is the minimum of the published QoS and the subscription's QoS.

Three subscribers subscribe to one topic at QoS 0, 1 and 2. A publisher sends one
message at each QoS ("published at 0", ...), then a sentinel ("end"). Each subscriber
reports what it received before the sentinel.

Output: {"granted": {"0": [codes], ...}, "received": {"0": [messages], "1": [...], "2": [...]}}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    run_id = uuid.uuid4().hex[:8]
    topic = "qos/" + run_id
    subscribers, granted = {}, {}
    for qos in (0, 1, 2):
        subscriber = mqttkit.PahoClient("qsub%d-%s" % (qos, run_id), endpoint, version=args.version)
        subscriber.connect()
        granted[str(qos)] = subscriber.subscribe([(topic, qos)])
        subscribers[str(qos)] = subscriber
    publisher = mqttkit.PahoClient("qpub-" + run_id, endpoint, version=args.version)
    publisher.connect()
    for qos in (0, 1, 2):
        publisher.publish_and_wait(topic, "published at %d" % qos, qos=qos)
    publisher.publish_and_wait(topic, "end", qos=2)
    received = {qos: subscriber.messages_until(payload="end") for qos, subscriber in subscribers.items()}
    for client in list(subscribers.values()) + [publisher]:
        client.disconnect()
    return {"granted": granted, "received": received}


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--version", choices=sorted(mqttkit.VERSIONS), default="311")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
