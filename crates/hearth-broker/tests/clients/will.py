"""Will messages: published when a client vanishes, not when it says goodbye.

Cases (--case):
- close-socket: a raw client connects with a will (QoS 1) and closes its socket without
  sending DISCONNECT. The watcher waits for the will.
- disconnect: a raw client connects with a will, sends DISCONNECT (reason 0 on 5.0) and
  reads until the broker closes the connection. The broker closes only after it has
  handled the DISCONNECT, so the sentinel below cannot overtake a wrongly published will.
  (A library client closes its socket right after DISCONNECT, which leaves that race
  open; the mosquitto_pub variant of this test waits on the broker's statistics.)

A watcher subscribed to the will topic reports what it received before a sentinel
("end") published afterwards on the same topic.

Output: {"received": [messages before the sentinel]}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    run_id = uuid.uuid4().hex[:8]
    topic = "will/" + run_id
    watcher = mqttkit.PahoClient("watch-" + run_id, endpoint, version=args.version)
    watcher.connect()
    watcher.subscribe([(topic, 1)])

    if args.case == "close-socket":
        raw = mqttkit.RawClient(args.host, args.port)
        raw.connect("victim-" + run_id, version=args.version, will=(topic, "gone", 1, False))
        raw.close()
        watcher.wait_for(lambda: any(m["payload"] == "gone" for m in watcher.messages), "the will message")
    else:
        raw = mqttkit.RawClient(args.host, args.port)
        raw.connect("victim-" + run_id, version=args.version, will=(topic, "gone", 1, False))
        raw.send(mqttkit.DISCONNECT)
        raw.wait_closed()
        raw.close()

    publisher = mqttkit.PahoClient("pub-" + run_id, endpoint, version=args.version)
    publisher.connect()
    publisher.publish_and_wait(topic, "end", qos=1)
    received = watcher.messages_until(payload="end")
    publisher.disconnect()
    watcher.disconnect()
    return {"received": received}


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--case", choices=["close-socket", "disconnect"], required=True)
    arguments.add_argument("--version", choices=["311", "5"], default="311")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
