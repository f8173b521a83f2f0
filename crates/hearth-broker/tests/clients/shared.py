"""Shared subscriptions: `$share/<group>/<filter>` spreads messages over the group.

--members clients subscribe to `$share/<group>/shared/<id>` at QoS 1 (and each, on its
own, to a per-member sentinel topic); one ordinary client subscribes to the plain topic
as well. A publisher sends --count numbered QoS 1 messages. Once the members together
hold --count messages, each member's sentinel is published, so any duplicate the broker
sent a member before that point is in the report.

Output: {"members": [[payloads of member 0], ...], "plain": [payloads of the ordinary
subscriber], "granted": [[suback codes], ...]}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    run_id = uuid.uuid4().hex[:8]
    topic = "shared/" + run_id
    members, granted = [], []
    for index in range(args.members):
        member = mqttkit.PahoClient("sh%d-%s" % (index, run_id), endpoint, version=args.version)
        member.connect()
        granted.append(member.subscribe([("$share/%s/%s" % (args.group, topic), 1), ("end/%d" % index, 1)]))
        members.append(member)
    plain = mqttkit.PahoClient("shplain-" + run_id, endpoint, version=args.version)
    plain.connect()
    plain.subscribe([(topic, 1)])

    publisher = mqttkit.PahoClient("shpub-" + run_id, endpoint, version=args.version, inflight=50)
    publisher.connect()
    publisher.wait_published([publisher.publish(topic, str(n), qos=1) for n in range(args.count)])

    def total():
        return sum(len(member.messages) for member in members)

    mqttkit.wait_until(lambda: total() >= args.count, "the group to receive %d messages" % args.count)
    plain.wait_for(lambda: len(plain.messages) >= args.count, "the ordinary subscriber's messages")
    for index in range(args.members):
        publisher.publish_and_wait("end/%d" % index, "end", qos=1)
    shares = [[message["payload"] for message in member.messages_until(topic="end/%d" % index)]
              for index, member in enumerate(members)]
    result = {"members": shares, "plain": [message["payload"] for message in plain.messages], "granted": granted}
    for client in members + [plain, publisher]:
        client.disconnect()
    return result


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--version", choices=sorted(mqttkit.VERSIONS), default="5")
    arguments.add_argument("--members", type=int, default=3)
    arguments.add_argument("--group", default="g")
    arguments.add_argument("--count", type=int, default=300)
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
