"""A subscriber that stops reading must not hold back anyone else.

Raw "slow" clients (one per QoS in --slow-qos) with a tiny receive buffer subscribe to
the topic and then never read their sockets again. A paho "fast" subscriber subscribes
at QoS 1, and a publisher sends --count messages of --size bytes at QoS 1 (far more than
the slow sockets' buffers hold), then a sentinel. The fast subscriber must get them all.

Output: {"fast": [numbers received before the sentinel], "bytes_published": n}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    run_id = uuid.uuid4().hex[:8]
    topic = "slow/" + run_id
    slow_clients = []
    for index, qos in enumerate(args.slow_qos):
        raw = mqttkit.RawClient(args.host, args.port, receive_buffer=4096)
        raw.connect("slow%d-%s" % (index, run_id), keepalive=0)
        granted = raw.subscribe([(topic, qos)])
        if granted != [qos]:
            raise mqttkit.Failure("slow subscriber granted %r" % granted)
        slow_clients.append(raw)

    fast = mqttkit.PahoClient("fast-" + run_id, endpoint)
    fast.connect()
    fast.subscribe([(topic, 1)])
    publisher = mqttkit.PahoClient("pub-" + run_id, endpoint, inflight=100)
    publisher.connect()
    padding = "x" * args.size
    infos = [publisher.publish(topic, "%d %s" % (number, padding), qos=1) for number in range(args.count)]
    infos.append(publisher.publish(topic, "end", qos=1))
    publisher.wait_published(infos, timeout=args.timeout)
    received = fast.messages_until(payload="end", timeout=args.timeout)

    for raw in slow_clients:
        raw.close()
    fast.disconnect()
    publisher.disconnect()
    return {
        "fast": [int(message["payload"].split(" ", 1)[0]) for message in received],
        "bytes_published": args.count * args.size
    }


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--count", type=int, default=2000)
    arguments.add_argument("--size", type=int, default=4096, help="payload bytes per message")
    arguments.add_argument("--slow-qos", type=int, nargs="+", default=[0, 1])
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
