"""QoS 2 exactly-once where a library would hide the details: raw sockets on one side.

Cases (--case):
- resend:    a raw publisher sends a QoS 2 PUBLISH, gets PUBREC, sends the same PUBLISH
             again with DUP (as after a lost PUBREC), then PUBREL. A paho subscriber at
             QoS 2 reports how often the message arrived.
- reconnect: like resend, but the raw publisher (persistent session) drops the
             connection after PUBREC and resends the PUBLISH on a new connection.
- release:   a raw subscriber (persistent session, QoS 2) receives a PUBLISH, answers
             PUBREC, reads the PUBREL and drops the connection without PUBCOMP. On
             reconnection the broker must resend that PUBREL (same packet id), not the
             PUBLISH.

Output (resend, reconnect): {"received": [messages before the sentinel], "pubrec": [...]}.
Output (release): {"first": PUBLISH, "pubrel": packet id, "after_reconnect": [packets],
                   "session_present": bool}.
"""

import struct
import uuid

import mqttkit


def publisher_side(args, run_id):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    topic = "qos2/" + run_id
    subscriber = mqttkit.PahoClient("q2sub-" + run_id, endpoint, version=args.version)
    subscriber.connect()
    subscriber.subscribe([(topic, 2)])

    publisher_id = "q2pub-" + run_id
    raw = mqttkit.RawClient(args.host, args.port)
    raw.connect(publisher_id, version=args.version, clean=True, keepalive=60)
    if args.case == "reconnect":
        # Start again with a persistent session (the first CONNECT cleaned any old one).
        raw.send(mqttkit.DISCONNECT)
        raw.wait_closed()
        raw = mqttkit.RawClient(args.host, args.port)
        raw.connect(publisher_id, version=args.version, clean=False)
    pubrecs = []
    raw.send(mqttkit.publish_packet(topic, "once", qos=2, packet_id=10, version=args.version))
    pubrecs.append(packet_id_of(raw.expect("PUBREC")))
    if args.case == "reconnect":
        raw.close()
        raw = mqttkit.RawClient(args.host, args.port)
        raw.connect(publisher_id, version=args.version, clean=False)
    raw.send(mqttkit.publish_packet(topic, "once", qos=2, packet_id=10, dup=True, version=args.version))
    pubrecs.append(packet_id_of(raw.expect("PUBREC")))
    raw.send(mqttkit.ack_packet("pubrel", 10))
    raw.expect("PUBCOMP")
    # The sentinel is QoS 2 as well: paho hands a QoS 2 message to the application only
    # when PUBREL arrives, so a QoS 0 sentinel could overtake "once".
    raw.send(mqttkit.publish_packet(topic, "end", qos=2, packet_id=11, version=args.version))
    raw.expect("PUBREC")
    raw.send(mqttkit.ack_packet("pubrel", 11))
    raw.expect("PUBCOMP")
    received = subscriber.messages_until(payload="end")
    raw.send(mqttkit.DISCONNECT)
    raw.close()
    subscriber.disconnect()
    return {"received": received, "pubrec": pubrecs}


def packet_id_of(flags_and_body):
    _flags, body = flags_and_body
    return struct.unpack("!H", body[:2])[0]


def subscriber_side(args, run_id):
    topic = "qos2/" + run_id
    subscriber_id = "q2rawsub-" + run_id
    raw = mqttkit.RawClient(args.host, args.port)
    raw.connect(subscriber_id, version=args.version, clean=True)
    raw.send(mqttkit.DISCONNECT)
    raw.wait_closed()
    raw = mqttkit.RawClient(args.host, args.port)
    raw.connect(subscriber_id, version=args.version, clean=False)
    granted = raw.subscribe([(topic, 2)], version=args.version)
    if granted != [2]:
        raise mqttkit.Failure("subscription granted %r" % granted)

    publisher = mqttkit.PahoClient("q2pub-" + run_id, mqttkit.Endpoint(args.host, args.port), version=args.version)
    publisher.connect()
    publisher.publish_and_wait(topic, "once", qos=2)
    flags, body = raw.expect("PUBLISH")
    first = mqttkit.parse_publish(flags, body, args.version)
    raw.send(mqttkit.ack_packet("pubrec", first["packet_id"]))
    pubrel = packet_id_of(raw.expect("PUBREL"))
    # Gone without PUBCOMP. Nothing is left unread, so the close is an orderly FIN.
    raw.close()

    raw = mqttkit.RawClient(args.host, args.port)
    session_present = raw.connect(subscriber_id, version=args.version, clean=False)
    # Whatever the broker resends comes right after CONNACK; the sentinel (QoS 0, routed
    # after the reconnection) marks the end of it.
    publisher.publish_and_wait(topic, "end", qos=0)
    after = []
    while True:
        kind, flags, body = raw.read_packet()
        if kind == "PUBLISH":
            message = mqttkit.parse_publish(flags, body, args.version)
            after.append({"packet": kind, **message})
            if message["payload"] == "end":
                break
            if message["qos"] == 2:
                raw.send(mqttkit.ack_packet("pubrec", message["packet_id"]))
        else:
            packet_id = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else None
            after.append({"packet": kind, "packet_id": packet_id})
            if kind == "PUBREL":
                raw.send(mqttkit.ack_packet("pubcomp", packet_id))
    raw.send(mqttkit.DISCONNECT)
    raw.close()
    publisher.disconnect()
    return {"first": first, "pubrel": pubrel, "after_reconnect": after, "session_present": session_present}


def scenario(args):
    run_id = uuid.uuid4().hex[:8]
    if args.case == "release":
        return subscriber_side(args, run_id)
    return publisher_side(args, run_id)


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--case", choices=["resend", "reconnect", "release"], required=True)
    arguments.add_argument("--version", choices=["311", "5"], default="311")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
