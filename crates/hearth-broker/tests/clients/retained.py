"""Retained messages, as a newly arriving and an already subscribed client see them.

Cases (--case):
- set:      one retained message, then a new subscriber.
- replace:  retained "first", then retained "second", then a new subscriber.
- delete:   retained "first", then an empty retained payload, then a new subscriber.
- existing: a subscriber that is already subscribed when the retained message is
            published, then a new subscriber for contrast.

Every case ends with a non-retained sentinel ("end") on the same topic, so what each
subscriber reports is exactly what the broker sent it before that point.

Output: {"new": [messages the new subscriber got], "existing": [... the established one]}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    topic = "retained/" + uuid.uuid4().hex[:8]
    publisher = mqttkit.PahoClient("rp-" + uuid.uuid4().hex[:8], endpoint, version=args.version)
    publisher.connect()
    existing = None
    if args.case == "existing":
        existing = mqttkit.PahoClient("re-" + uuid.uuid4().hex[:8], endpoint, version=args.version)
        existing.connect()
        existing.subscribe([(topic, 1)])

    publisher.publish_and_wait(topic, "first", qos=1, retain=True)
    if args.case == "replace":
        publisher.publish_and_wait(topic, "second", qos=1, retain=True)
    if args.case == "delete":
        publisher.publish_and_wait(topic, b"", qos=1, retain=True)

    newcomer = mqttkit.PahoClient("rn-" + uuid.uuid4().hex[:8], endpoint, version=args.version)
    newcomer.connect()
    newcomer.subscribe([(topic, 1)])
    publisher.publish_and_wait(topic, "end", qos=1)

    result = {"new": newcomer.messages_until(payload="end"), "existing": None}
    if existing:
        result["existing"] = existing.messages_until(payload="end")
        existing.disconnect()
    newcomer.disconnect()
    publisher.disconnect()
    return result


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--case", choices=["set", "replace", "delete", "existing"], required=True)
    arguments.add_argument("--version", choices=sorted(mqttkit.VERSIONS), default="311")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
