"""Persistent and clean sessions across a disconnection.

Cases (--case):
- persistent: connect with a session that outlives the connection (3.1.1
  clean_session=false, or 5.0 session expiry 300 s), subscribe at --qos, disconnect;
  another client publishes --count messages at --qos; reconnect without cleaning.
  The stored messages must arrive without subscribing again.
- clean: the same, but the first connection uses a clean session (3.1.1) or session
  expiry 0 (5.0), and the reconnection asks to resume. There must be nothing to resume.
- expiry (5.0 only): connect with session expiry 1 s, subscribe, disconnect, then keep
  asking to resume (each attempt disconnects again with expiry 1 s) until the broker
  reports no session; the count of attempts is reported, not timed.

Then a sentinel ("end") is published (after subscribing again, except in the persistent
case, where the stored subscription must carry it), so "received" is exactly what the
broker delivered on the new connection before that point.

Output: {"first": CONNACK, "second": CONNACK, "received": [messages], "attempts": n}.
"""

import time
import uuid

import mqttkit


def session_client(args, client_id, persistent, expiry=300):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    if args.version == "5":
        return mqttkit.PahoClient(
            client_id, endpoint, version="5", clean=True, session_expiry=expiry if persistent else 0
        )
    return mqttkit.PahoClient(client_id, endpoint, version=args.version, clean=not persistent)


def scenario(args):
    client_id = "sess-" + uuid.uuid4().hex[:8]
    topic = "sessions/" + client_id
    persistent = args.case in ("persistent", "expiry")
    expiry = 1 if args.case == "expiry" else 300

    first_client = session_client(args, client_id, persistent, expiry)
    first = first_client.connect(clean_start=True)
    first_client.subscribe([(topic, args.qos)])
    first_client.disconnect()

    publisher = mqttkit.PahoClient("pub-" + client_id, mqttkit.Endpoint(args.host, args.port), version=args.version)
    publisher.connect()
    if args.case != "expiry":
        publisher.wait_published([publisher.publish(topic, str(n), qos=args.qos) for n in range(args.count)])

    # The second connection always asks to resume: 3.1.1 clean_session=false, 5.0 clean
    # start false with a non-zero expiry.
    attempts = 0
    while True:
        attempts += 1
        second_client = session_client(args, client_id, persistent=True, expiry=expiry)
        second = second_client.connect(clean_start=False)
        if args.case != "expiry" or not second["session_present"]:
            break
        second_client.disconnect()
        if attempts >= 20:
            raise mqttkit.Failure("session with expiry 1 s still present after %d attempts" % attempts)
        time.sleep(args.expiry_pause)

    if args.case != "persistent":
        # A resumed session already has its subscription; subscribing again here would
        # hide a broker that forgot it.
        second_client.subscribe([(topic, args.qos)])
    publisher.publish_and_wait(topic, "end", qos=args.qos)
    received = second_client.messages_until(payload="end")
    second_client.disconnect()
    publisher.disconnect()
    return {"first": first, "second": second, "received": received, "attempts": attempts}


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--case", choices=["persistent", "clean", "expiry"], required=True)
    arguments.add_argument("--version", choices=sorted(mqttkit.VERSIONS), default="311")
    arguments.add_argument("--qos", type=int, choices=[1, 2], default=1)
    arguments.add_argument("--count", type=int, default=5)
    arguments.add_argument("--expiry-pause", type=float, default=1.5, help="seconds between resume attempts")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
