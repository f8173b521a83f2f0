"""Authentication and ACL checks over raw sockets, with exact reason and return codes.

Usage:
  auth_clients.py --port PORT --case session [--version 4|5] [--client-id ID]
                  [--username U] [--password P] [--observer USER:PASSWORD]
                  [--subscribe FILTER]... [--publish TOPIC]...
  auth_clients.py --port PORT --case poll_publish --username U --password P --publish TOPIC

`session`: an optional observer (MQTT 5, subscribed to `#`) connects first; then the
client connects with the given credentials and, if accepted, sends one SUBSCRIBE per
--subscribe and one QoS 1 PUBLISH per --publish (payload = topic). Prints the CONNACK
code, each SUBACK and PUBACK code, whether the client's connection is still open, and
the topics the observer received. MQTT 3.1.1 codes are reported as sent (CONNACK return
code 4 = bad user name or password, 5 = not authorized; SUBACK 0x80 = failure).

`poll_publish`: connects once and publishes QoS 1 to the topic every 200 ms until the
PUBACK says success or 10 s pass (for ACL reloads); prints the attempts and last code.
Exits 1 only when the script could not run (e.g. the observer was refused).
"""

import argparse
import time

import raw_packets as raw
from raw_packets import RawClient

WAIT = 5.0


def connect(args, client_id):
    client = RawClient(args.port, version=args.version)
    connack = client.connect(client_id, expect_success=False, username=args.username,
                             password=args.password)
    return client, connack


def session(args):
    observer = None
    if args.observer:
        user, password = args.observer.split(":", 1)
        observer = RawClient(args.port)
        observer.connect("auth-observer", username=user, password=password)
        suback = observer.subscribe(1, [("#", 1)])
        if suback["reasons"] != [1]:
            raise raw.Failure(f"the observer may not subscribe to #: {suback}")

    client, connack = connect(args, args.client_id)
    result = {"connack": connack["reason"], "suback": {}, "puback": {}}
    if connack["reason"] != 0:
        result["closed_after_connack"] = client.collect_until_closed(WAIT)["closed"]
        return result

    for index, topic_filter in enumerate(args.subscribe, start=1):
        suback = client.subscribe(index, [(topic_filter, 1)])
        result["suback"][topic_filter] = suback["reasons"][0]
    for index, topic in enumerate(args.publish, start=1):
        client.send(raw.publish(topic, topic.encode(), qos=1, packet_id=index,
                                version=args.version))
        result["puback"][topic] = client.next_of(raw.PUBACK, WAIT, skipped=[])["reason"]
    try:
        client.ping()
        result["client_open"] = True
    except raw.Failure:
        result["client_open"] = False

    if observer is not None:
        observer.send(raw.subscribe(2, [("barrier/auth", 0)]))
        before = []
        observer.next_of(raw.SUBACK, WAIT, skipped=before)
        result["observer_got"] = [p["topic"] for p in before if p.kind == raw.PUBLISH]
    return result


def poll_publish(args):
    client, connack = connect(args, args.client_id)
    if connack["reason"] != 0:
        raise raw.Failure(f"refused: {connack}")
    topic = args.publish[0]
    attempts, reason = 0, None
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        attempts += 1
        client.send(raw.publish(topic, b"poll", qos=1, packet_id=attempts, version=args.version))
        reason = client.next_of(raw.PUBACK, WAIT, skipped=[])["reason"]
        if reason == 0:
            break
        time.sleep(0.2)
    return {"attempts": attempts, "last_puback": reason}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--case", choices=("session", "poll_publish"), required=True)
    parser.add_argument("--version", type=int, choices=(4, 5), default=5)
    parser.add_argument("--client-id", default="auth-client")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--observer", help="USER:PASSWORD of a client subscribed to #")
    parser.add_argument("--subscribe", action="append", default=[])
    parser.add_argument("--publish", action="append", default=[])
    args = parser.parse_args()
    result = session(args) if args.case == "session" else poll_publish(args)
    return dict(result, case=args.case)


if __name__ == "__main__":
    raw.run_script(main)
