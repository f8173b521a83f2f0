"""Session takeover: a second connection with the same client id replaces the first.

The first client connects and subscribes; a second client connects with the same id.
The first must lose its connection (on 5.0 with a DISCONNECT carrying its reason code);
the second must stay connected and work: it subscribes and receives a message.

Output: {"first_disconnect_reason": int, "first_socket_open": bool,
         "second_connack": CONNACK, "second_received": [messages],
         "first_received": [messages the first client got at all]}.
"""

import uuid

import mqttkit


def scenario(args):
    endpoint = mqttkit.Endpoint(args.host, args.port)
    client_id = "takeover-" + uuid.uuid4().hex[:8]
    topic = "takeover/" + client_id
    first = mqttkit.PahoClient(client_id, endpoint, version=args.version)
    first.connect()
    first.subscribe([(topic, 1)])

    second = mqttkit.PahoClient(client_id, endpoint, version=args.version)
    second_connack = second.connect()
    reason = first.wait_disconnected()

    second.subscribe([(topic, 1)])
    publisher = mqttkit.PahoClient("pub-" + client_id, endpoint, version=args.version)
    publisher.connect()
    publisher.publish_and_wait(topic, "after takeover", qos=1)
    publisher.publish_and_wait(topic, "end", qos=1)
    second_received = second.messages_until(payload="end")
    result = {
        "first_disconnect_reason": reason,
        # Paho drops its socket when the connection ends, whoever ended it.
        "first_socket_open": first.client.socket() is not None,
        "second_connack": second_connack,
        "second_received": second_received,
        "first_received": list(first.messages),
    }
    first.client.loop_stop()
    second.disconnect()
    publisher.disconnect()
    return result


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--version", choices=sorted(mqttkit.VERSIONS), default="5")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
