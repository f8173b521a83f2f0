"""Helpers shared by the client scripts in this directory.

- `run`: argument parsing, an overall watchdog, one JSON result on stdout, and a non-zero
  exit with a readable message on stderr when a scenario fails.
- `PahoClient`: a paho-mqtt client on its own network thread that records everything it
  observes (CONNACK, SUBACK, messages, DISCONNECT) and lets the scenario wait for it with
  a deadline.
- `RawClient`: a bare socket speaking just enough MQTT to do what a well-behaved library
  will not (go silent, stop reading, drop the connection without DISCONNECT, resend a
  QoS 2 PUBLISH).

The scripts are run by the Rust integration tests; see tests/common/clients.rs.
"""

import argparse
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

VERSIONS = {"31": mqtt.MQTTv31, "311": mqtt.MQTTv311, "5": mqtt.MQTTv5}

# Seconds any single wait may take unless a scenario says otherwise. Generous: the
# machine running the tests may be busy building.
WAIT = 10.0


class Failure(Exception):
    """A scenario observed something other than what it expected."""


# ---------------------------------------------------------------------------------------
# Running a scenario
# ---------------------------------------------------------------------------------------


def parser(description):
    """An argument parser with the options every script takes."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument("--host", default="127.0.0.1")
    arguments.add_argument("--port", type=int, required=True, help="broker port")
    arguments.add_argument("--timeout", type=float, default=30.0, help="overall deadline, seconds")
    return arguments


def run(arguments, scenario):
    """Parses arguments, runs `scenario(args)` under a watchdog and prints its result.

    The result (a dict) goes to stdout as one JSON line. A `Failure` exits with status 1,
    the watchdog with status 3, both with the reason on stderr.
    """
    args = arguments.parse_args()

    def expired(_signum, _frame):
        sys.stderr.write("scenario did not finish within %.0f s\n" % args.timeout)
        sys.stderr.flush()
        # Paho's network threads would keep a normal exit waiting.
        os._exit(3)

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    try:
        result = scenario(args)
    except Failure as failure:
        sys.stderr.write("FAILED: %s\n" % failure)
        sys.stderr.flush()
        os._exit(1)
    except Exception:  # noqa: BLE001 (a crash in the script is reported, then exits)
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(2)
    signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)


def wait_until(condition, what, timeout=WAIT, interval=0.01):
    """Polls `condition` until it is true; raises `Failure` naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise Failure("timed out waiting for " + what)
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# Paho clients
# ---------------------------------------------------------------------------------------


class Endpoint:
    """Where and how to reach the broker: host, port, transport and optional CA file."""

    def __init__(self, host, port, transport="tcp", cafile=None, ws_path="/mqtt"):
        self.host = host
        self.port = port
        self.transport = transport
        self.cafile = cafile
        self.ws_path = ws_path


def message_record(message):
    """What a test wants to know about one received PUBLISH, JSON-friendly."""
    return {
        "topic": message.topic,
        "payload": message.payload.decode("utf-8", errors="replace"),
        "qos": message.qos,
        "retain": bool(message.retain),
        "dup": bool(message.dup),
    }


class PahoClient:
    """A paho-mqtt client with its own network thread, recording what it observes.

    Automatic reconnection is off: a scenario must see a disconnection, not paper over it.
    """

    def __init__(self, name, endpoint, version="311", clean=True, session_expiry=None, keepalive=30, inflight=None):
        self.name = name
        self.endpoint = endpoint
        self.version = version
        self.v5 = version == "5"
        self.clean = clean
        self.session_expiry = session_expiry
        self.keepalive = keepalive
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=name,
            clean_session=None if self.v5 else clean,
            protocol=VERSIONS[version],
            transport=endpoint.transport,
            reconnect_on_failure=False,
        )
        if inflight:
            # Paho refuses to change this once connected.
            self.client.max_inflight_messages_set(inflight)
        if endpoint.transport == "websockets":
            self.client.ws_set_options(path=endpoint.ws_path)
        if endpoint.cafile:
            self.client.tls_set(ca_certs=endpoint.cafile)
        self.lock = threading.Condition()
        self.connacks = []
        self.subacks = {}
        self.messages = []
        self.disconnects = []
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    # Callbacks run on the network thread; everything they touch is guarded by `lock`.

    def _on_connect(self, _client, _userdata, flags, reason_code, _properties):
        with self.lock:
            self.connacks.append({"session_present": bool(flags.session_present), "reason": reason_code.value})
            self.lock.notify_all()

    def _on_subscribe(self, _client, _userdata, mid, reason_codes, _properties):
        with self.lock:
            self.subacks[mid] = [code.value for code in reason_codes]
            self.lock.notify_all()

    def _on_message(self, _client, _userdata, message):
        with self.lock:
            self.messages.append(message_record(message))
            self.lock.notify_all()

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties):
        with self.lock:
            self.disconnects.append(reason_code.value)
            self.lock.notify_all()

    def wait_for(self, condition, what, timeout=WAIT):
        """Waits until `condition()` (called under the lock) holds."""
        with self.lock:
            if not self.lock.wait_for(condition, timeout):
                raise Failure("%s: timed out waiting for %s" % (self.name, what))

    def will_set(self, topic, payload, qos=0, retain=False):
        self.client.will_set(topic, payload, qos=qos, retain=retain)

    def connect(self, clean_start=None, expect_success=True):
        """Connects and waits for CONNACK; returns it as a dict."""
        seen = len(self.connacks)
        properties = None
        if self.v5 and self.session_expiry is not None:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry
        options = {}
        if self.v5:
            options["clean_start"] = self.clean if clean_start is None else clean_start
            options["properties"] = properties
        try:
            self.client.connect(self.endpoint.host, self.endpoint.port, keepalive=self.keepalive, **options)
        except (OSError, ssl.SSLError) as error:
            raise Failure("%s: cannot connect to %s:%d: %s" % (self.name, self.endpoint.host, self.endpoint.port, error))
        self.client.loop_start()
        self.wait_for(lambda: len(self.connacks) > seen or self.disconnects, "CONNACK")
        if len(self.connacks) <= seen:
            raise Failure("%s: connection closed before CONNACK" % self.name)
        connack = self.connacks[-1]
        if expect_success and connack["reason"] != 0:
            raise Failure("%s: CONNACK refused with reason %d" % (self.name, connack["reason"]))
        return connack

    def subscribe(self, filters):
        """Subscribes to [(filter, qos)] and waits for SUBACK; returns its reason codes."""
        if self.v5:
            filters = [(topic, SubscribeOptions(qos=qos)) for topic, qos in filters]
        result, mid = self.client.subscribe(filters)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise Failure("%s: subscribe failed locally: %s" % (self.name, mqtt.error_string(result)))
        self.wait_for(lambda: mid in self.subacks, "SUBACK")
        return self.subacks[mid]

    def publish(self, topic, payload, qos=0, retain=False):
        """Queues a PUBLISH; returns paho's MessageInfo."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise Failure("%s: publish to %s failed locally: %s" % (self.name, topic, mqtt.error_string(info.rc)))
        return info

    def publish_and_wait(self, topic, payload, qos=0, retain=False):
        """Publishes and waits until paho considers it sent (QoS 0) or acknowledged."""
        self.wait_published([self.publish(topic, payload, qos, retain)])

    def wait_published(self, infos, timeout=WAIT):
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                raise Failure("%s: message %d not acknowledged in time" % (self.name, info.mid))

    def messages_until(self, topic=None, payload=None, timeout=WAIT):
        """Waits for a sentinel message (matching `topic` and/or `payload`); returns the
        messages that arrived before it. Whatever the broker sent earlier on the same
        session, duplicates included, is therefore in the result."""
        def is_sentinel(message):
            return (topic is None or message["topic"] == topic) and (payload is None or message["payload"] == payload)

        what = "a sentinel message (topic %r, payload %r)" % (topic, payload)
        self.wait_for(lambda: any(is_sentinel(message) for message in self.messages), what, timeout)
        with self.lock:
            index = next(i for i, message in enumerate(self.messages) if is_sentinel(message))
            return list(self.messages[:index])

    def wait_disconnected(self, timeout=WAIT):
        self.wait_for(lambda: self.disconnects, "the connection to end", timeout)
        return self.disconnects[0]

    def disconnect(self):
        """Sends DISCONNECT, waits for the connection to end and stops the thread."""
        self.client.disconnect()
        self.wait_disconnected()
        self.client.loop_stop()


def add_side_options(arguments, side):
    """Adds --<side>-port, --<side>-transport, --<side>-cafile and --<side>-version, for
    scripts whose publisher and subscriber may use different listeners or dialects."""
    arguments.add_argument("--%s-port" % side, type=int, default=None, help="defaults to --port")
    arguments.add_argument("--%s-transport" % side, choices=["tcp", "websockets"], default="tcp")
    arguments.add_argument("--%s-cafile" % side, default=None, help="CA certificate; enables TLS")
    arguments.add_argument("--%s-version" % side, choices=sorted(VERSIONS), default="311")


def side_endpoint(args, side):
    """The Endpoint described by the options `add_side_options` added for `side`."""
    values = vars(args)
    port = values[side + "_port"] or args.port
    return Endpoint(args.host, port, values[side + "_transport"], values[side + "_cafile"])


# ---------------------------------------------------------------------------------------
# Raw MQTT
# ---------------------------------------------------------------------------------------


def encode_varint(value):
    out = bytearray()
    while True:
        byte = value % 128
        value //= 128
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def decode_varint(data, index):
    """Returns (value, index after it) for the variable byte integer at `index`."""
    value, multiplier = 0, 1
    while True:
        byte = data[index]
        index += 1
        value += (byte & 0x7F) * multiplier
        multiplier *= 128
        if not byte & 0x80:
            return value, index


def encode_string(text):
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return struct.pack("!H", len(data)) + data


def packet(first_byte, body):
    return bytes([first_byte]) + encode_varint(len(body)) + body


def connect_packet(client_id, version="311", keepalive=60, clean=True, will=None):
    """CONNECT for 3.1.1 or 5.0. `will` is (topic, payload, qos, retain) or None."""
    level = 5 if version == "5" else 4
    flags = 0x02 if clean else 0
    if will:
        topic, payload, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
    body = encode_string("MQTT") + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == 5:
        body += encode_varint(0)
    body += encode_string(client_id)
    if will:
        if level == 5:
            body += encode_varint(0)
        body += encode_string(topic) + encode_string(payload)
    return packet(0x10, body)


def subscribe_packet(packet_id, filters, version="311"):
    body = struct.pack("!H", packet_id)
    if version == "5":
        body += encode_varint(0)
    for topic, qos in filters:
        body += encode_string(topic) + bytes([qos])
    return packet(0x82, body)


def publish_packet(topic, payload, qos=0, packet_id=None, retain=False, dup=False, version="311"):
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = encode_string(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if version == "5":
        body += encode_varint(0)
    return packet(first, body + (payload.encode() if isinstance(payload, str) else payload))


def ack_packet(kind, packet_id):
    """PUBACK, PUBREC, PUBREL or PUBCOMP with the given packet id."""
    first = {"puback": 0x40, "pubrec": 0x50, "pubrel": 0x62, "pubcomp": 0x70}[kind]
    return packet(first, struct.pack("!H", packet_id))


def parse_publish(flags, body, version="311"):
    """Splits a PUBLISH body into a dict like `message_record` plus its packet id."""
    topic_length = struct.unpack("!H", body[:2])[0]
    topic = body[2:2 + topic_length].decode("utf-8", errors="replace")
    index = 2 + topic_length
    qos = (flags >> 1) & 0x03
    packet_id = None
    if qos:
        packet_id = struct.unpack("!H", body[index:index + 2])[0]
        index += 2
    if version == "5":
        properties_length, index = decode_varint(body, index)
        index += properties_length
    return {
        "topic": topic,
        "payload": body[index:].decode("utf-8", errors="replace"),
        "qos": qos,
        "retain": bool(flags & 0x01),
        "dup": bool(flags & 0x08),
        "packet_id": packet_id,
    }


PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"

PACKET_NAMES = {
    2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
    9: "SUBACK", 11: "UNSUBACK", 13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH",
}


class RawClient:
    """A plain TCP socket and a packet reader. Reads are explicit: if the scenario does
    not call `read_packet`, nothing is read."""

    def __init__(self, host, port, receive_buffer=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            # Before connect, so that the advertised TCP window stays small.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(WAIT)
        self.sock.connect((host, port))
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, needed, deadline):
        while len(self.buffer) < needed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError()
            self.buffer += chunk

    def read_packet(self, timeout=WAIT):
        """Returns (packet type name, flags, body). Raises EOFError when the broker closed
        the connection and socket.timeout when nothing complete arrived in time."""
        deadline = time.monotonic() + timeout
        self._fill(2, deadline)
        length, multiplier, index = 0, 1, 1
        while True:
            self._fill(index + 1, deadline)
            byte = self.buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        self._fill(index + length, deadline)
        first = self.buffer[0]
        body = self.buffer[index:index + length]
        self.buffer = self.buffer[index + length:]
        return PACKET_NAMES.get(first >> 4, "type %d" % (first >> 4)), first & 0x0F, body

    def expect(self, name, timeout=WAIT):
        """Reads one packet and fails unless it is a `name`; returns (flags, body)."""
        try:
            kind, flags, body = self.read_packet(timeout)
        except EOFError:
            raise Failure("connection closed while waiting for " + name)
        except socket.timeout:
            raise Failure("timed out waiting for " + name)
        if kind != name:
            raise Failure("expected %s, got %s" % (name, kind))
        return flags, body

    def connect(self, client_id, version="311", keepalive=60, clean=True, will=None):
        """Sends CONNECT and checks the CONNACK accepts it; returns session present."""
        self.send(connect_packet(client_id, version, keepalive, clean, will))
        _flags, body = self.expect("CONNACK")
        if body[1] != 0:
            raise Failure("CONNACK refused with reason %d" % body[1])
        return bool(body[0] & 0x01)

    def subscribe(self, filters, packet_id=1, version="311"):
        """Sends SUBSCRIBE for [(filter, qos)]; returns the SUBACK's reason codes."""
        self.send(subscribe_packet(packet_id, filters, version))
        _flags, body = self.expect("SUBACK")
        start = 2
        if version == "5":
            properties_length, start = decode_varint(body, 2)
            start += properties_length
        return list(body[start:])

    def wait_closed(self, timeout=WAIT):
        """Reads (and discards) until the broker closes the connection."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.read_packet(timeout=max(0.0, deadline - time.monotonic()))
            except (EOFError, ConnectionResetError):
                return
            except socket.timeout:
                raise Failure("the broker did not close the connection")

    def close(self):
        self.sock.close()
