"""MQTT 5 scenarios driven by a real third-party client: Eclipse paho-mqtt 2.x, MQTTv5.

Usage: v5_paho.py --port PORT --case CASE

Each case exercises one MQTT 5 feature through paho's public API (properties,
subscription options, reason codes) and prints one JSON object with what the clients
observed; the Rust tests decide whether that is right. paho is driven with `loop()`
from this thread rather than `loop_start()`, so that nothing reconnects behind the
script's back and callbacks run in a known order.

To know that no further message is coming, a client subscribes to a fresh "barrier"
topic and waits for the SUBACK: the broker answers one connection's packets in order,
so anything it sent before the SUBACK has been handled by then. Exits 1 when a scenario
cannot be carried out (no CONNACK, a message that must come does not).
"""

import argparse
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

import raw_packets as raw

WAIT = 5.0


class Client:
    """A paho MQTT 5 client whose callbacks append to one list of events."""

    def __init__(self, port, client_id, username=None, password=None):
        self.port = port
        self.client_id = client_id
        self.events = []
        self.messages = []
        self.barriers = 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        client.on_connect = lambda _c, _u, flags, reason, props: self.events.append(
            ("connect", flags, reason, props))
        client.on_message = lambda _c, _u, message: self.messages.append(message_json(message))
        client.on_subscribe = lambda _c, _u, mid, reasons, props: self.events.append(
            ("subscribe", mid, reasons, props))
        client.on_unsubscribe = lambda _c, _u, mid, reasons, props: self.events.append(
            ("unsubscribe", mid, reasons, props))
        client.on_publish = lambda _c, _u, mid, reason, props: self.events.append(
            ("publish", mid, reason, props))
        client.on_disconnect = lambda _c, _u, flags, reason, props: self.events.append(
            ("disconnect", reason, props))
        if username is not None:
            client.username_pw_set(username, password)
        self.client = client

    def wait(self, kind, mid=None, timeout=WAIT):
        """Runs the network loop until an event of `kind` (with `mid`, if given) arrives,
        and returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event[0] == kind and (mid is None or event[1] == mid):
                    return self.events.pop(index)
            if time.monotonic() > deadline:
                raise raw.Failure(
                    f"{self.client_id}: no {kind} within {timeout} s (events: {self.events})")
            self.client.loop(timeout=0.05)

    def connect(self, clean_start=True, props=None, keepalive=60, expect_success=True):
        """Connects; returns (reason code, CONNACK properties as a dict, session present)."""
        self.client.connect("127.0.0.1", self.port, keepalive=keepalive, clean_start=clean_start,
                            properties=props)
        _, flags, reason, props = self.wait("connect")
        if expect_success and reason.value != 0:
            raise raw.Failure(f"{self.client_id} refused: {reason} ({reason.value:#x})")
        return reason.value, props.json() if props is not None else {}, flags.session_present

    def subscribe(self, topic, options=None, props=None):
        """Subscribes to one filter; returns the SUBACK reason codes as integers."""
        options = options if options is not None else SubscribeOptions(qos=1)
        result, mid = self.client.subscribe(topic, options=options, properties=props)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise raw.Failure(f"{self.client_id}: subscribe to {topic} failed: {result}")
        return [reason.value for reason in self.wait("subscribe", mid)[2]]

    def unsubscribe(self, topics):
        _, mid = self.client.unsubscribe(topics)
        return [reason.value for reason in self.wait("unsubscribe", mid)[2]]

    def publish(self, topic, payload, qos=1, retain=False, props=None):
        """Publishes; for QoS 1 returns the PUBACK reason code once it has arrived."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise raw.Failure(f"{self.client_id}: publish to {topic!r} failed: {info.rc}")
        return self.wait("publish", info.mid)[2].value

    def barrier(self):
        """Every message received so far, once the broker has answered a fresh SUBSCRIBE."""
        self.barriers += 1
        self.subscribe(f"barrier/{self.client_id}/{self.barriers}", SubscribeOptions(qos=0))
        return self.messages

    def take_messages(self):
        """The messages received so far (after a barrier), forgetting them."""
        messages = self.barrier()
        self.messages = []
        return messages

    def close(self):
        self.client.disconnect()
        self.client.loop(timeout=0.05)


def message_json(message):
    properties = message.properties.json() if message.properties is not None else {}
    return {
        "topic": message.topic,
        "payload": message.payload.decode("utf-8", errors="replace"),
        "qos": message.qos,
        "retain": bool(message.retain),
        "properties": properties,
    }


def publish_properties(**values):
    """PUBLISH properties from paho attribute names; lists become repeated properties."""
    props = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        if isinstance(value, list):
            for item in value:
                setattr(props, name, item)
        else:
            setattr(props, name, value)
    return props


def connected(port, client_id, **options):
    client = Client(port, client_id)
    client.connect(**options)
    return client


def connack_properties(port):
    client = Client(port, "v5-connack")
    reason, props, _ = client.connect()
    client.close()
    return {"reason": reason, "properties": props}


def assigned_client_id(port):
    """Two clients connect with an empty client id."""
    assigned = []
    for _ in range(2):
        client = Client(port, "")
        _, props, _ = client.connect()
        assigned.append(props.get("AssignedClientIdentifier"))
        client.close()
    return {"assigned": assigned}


def user_properties(port):
    sent = [("k", "1"), ("b", "2"), ("k", "3"), ("empty", "")]
    subscriber = connected(port, "up-sub")
    subscriber.subscribe("up/t")
    publisher = connected(port, "up-pub")
    publisher.publish("up/t", b"with properties", props=publish_properties(UserProperty=sent))
    received = subscriber.take_messages()
    return {"sent": sent, "received": [m["properties"].get("UserProperty") for m in received]}


def request_response(port):
    """A requester asks through `rr/request` with Response Topic and Correlation Data; a
    responder answers on the Response Topic, echoing the Correlation Data."""
    correlation = b"\x00corr-42\xff"
    requester = connected(port, "rr-requester")
    requester.subscribe("rr/response/requester")
    responder = connected(port, "rr-responder")
    responder.subscribe("rr/request")
    requester.publish("rr/request", b"ping", props=publish_properties(
        ResponseTopic="rr/response/requester", CorrelationData=correlation))
    requests = responder.take_messages()
    if not requests:
        raise raw.Failure("the responder got no request")
    request = requests[0]["properties"]
    responder.publish(request["ResponseTopic"], b"pong", props=publish_properties(
        CorrelationData=bytes.fromhex(request["CorrelationData"])))
    responses = requester.take_messages()
    return {
        "sent_correlation": correlation.hex(),
        "responder_saw": request,
        "requester_got": responses,
    }


def no_local(port):
    """Client A subscribes with No Local, client B without; each publishes once."""
    a = connected(port, "nl-a")
    a.subscribe("nl/t", SubscribeOptions(qos=1, noLocal=True))
    b = connected(port, "nl-b")
    b.subscribe("nl/t", SubscribeOptions(qos=1))
    a.publish("nl/t", b"from-a")
    b.publish("nl/t", b"from-b")
    return {"a_got": [m["payload"] for m in a.take_messages()],
            "b_got": [m["payload"] for m in b.take_messages()]}


def retain_as_published(port):
    """A retained message exists; A subscribes with Retain As Published, B without; then
    a new retained message is published."""
    publisher = connected(port, "rap-pub")
    publisher.publish("rap/t", b"old", retain=True)
    a = connected(port, "rap-a")
    a.subscribe("rap/t", SubscribeOptions(qos=1, retainAsPublished=True))
    b = connected(port, "rap-b")
    b.subscribe("rap/t", SubscribeOptions(qos=1, retainAsPublished=False))
    publisher.publish("rap/t", b"new", retain=True)
    return {name: [[m["payload"], m["retain"]] for m in client.take_messages()]
            for name, client in (("a", a), ("b", b))}


def retain_handling(port):
    """For each Retain Handling value, one client subscribes twice to a topic holding a
    retained message and counts the retained messages after each SUBSCRIBE."""
    publisher = connected(port, "rh-pub")
    publisher.publish("rh/t", b"kept", retain=True)
    counts = {}
    for handling in (0, 1, 2):
        client = connected(port, f"rh-{handling}")
        counts[str(handling)] = []
        for _ in range(2):
            client.subscribe("rh/t", SubscribeOptions(qos=1, retainHandling=handling))
            counts[str(handling)].append(len([m for m in client.take_messages() if m["retain"]]))
        client.close()
    return {"retained_per_subscribe": counts}


def subscription_identifiers(port):
    """Two overlapping subscriptions with identifiers 7 and 9, one without."""
    client = connected(port, "sid")

    def with_id(identifier):
        props = Properties(PacketTypes.SUBSCRIBE)
        props.SubscriptionIdentifier = identifier
        return props

    client.subscribe("sid/#", props=with_id(7))
    client.subscribe("sid/+/x", props=with_id(9))
    client.subscribe("plain/#")
    publisher = connected(port, "sid-pub")
    for topic in ("sid/a/x", "sid/b", "plain/c"):
        publisher.publish(topic, topic.encode())
    return {"received": [[m["topic"], m["properties"].get("SubscriptionIdentifier")]
                         for m in client.take_messages()]}


def unsubscribe_reason_codes(port):
    client = connected(port, "unsub")
    client.subscribe("un/a")
    return {"reasons": client.unsubscribe(["un/a", "un/never-subscribed"])}


def topic_alias_from_client(port):
    """The publisher sets alias 1 with a full topic, then publishes with an empty topic
    and alias 1."""
    subscriber = connected(port, "alias-from-sub")
    subscriber.subscribe("alias/from/#")
    publisher = connected(port, "alias-from-pub")
    pubacks = [
        publisher.publish("alias/from/client", b"first", props=publish_properties(TopicAlias=1)),
        publisher.publish("", b"second", props=publish_properties(TopicAlias=1)),
    ]
    received = subscriber.take_messages()
    return {"pubacks": pubacks, "received": [[m["topic"], m["payload"]] for m in received]}


def puback_not_authorized(port):
    """The test's authorizer denies publishing under `forbidden/`. A subscriber to `#`
    reports what it got after a denied and an allowed QoS 1 publish."""
    subscriber = connected(port, "deny-sub")
    subscriber.subscribe("#", SubscribeOptions(qos=1, retainHandling=2))
    publisher = connected(port, "deny-pub")
    denied = publisher.publish("forbidden/x", b"denied")
    allowed = publisher.publish("allowed/x", b"allowed")
    publisher.barrier()
    return {"denied_puback": denied, "allowed_puback": allowed,
            "subscriber_got": [m["topic"] for m in subscriber.take_messages()
                               if not m["topic"].startswith("$SYS")]}


def authentication_method(port):
    """CONNECT asking for enhanced authentication, which the broker does not offer."""
    props = Properties(PacketTypes.CONNECT)
    props.AuthenticationMethod = "SCRAM-SHA-1"
    props.AuthenticationData = b"client-first-message"
    client = Client(port, "auth-method")
    reason, connack_props, _ = client.connect(props=props, expect_success=False)
    return {"reason": reason, "properties": connack_props}


CASES = {
    "connack_properties": connack_properties,
    "assigned_client_id": assigned_client_id,
    "user_properties": user_properties,
    "request_response": request_response,
    "no_local": no_local,
    "retain_as_published": retain_as_published,
    "retain_handling": retain_handling,
    "subscription_identifiers": subscription_identifiers,
    "unsubscribe_reason_codes": unsubscribe_reason_codes,
    "topic_alias_from_client": topic_alias_from_client,
    "puback_not_authorized": puback_not_authorized,
    "authentication_method": authentication_method,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--case", choices=sorted(CASES), required=True)
    args = parser.parse_args()
    return dict(CASES[args.case](args.port), case=args.case)


if __name__ == "__main__":
    raw.run_script(main)
