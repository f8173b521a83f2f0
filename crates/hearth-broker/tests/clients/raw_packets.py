"""Hand-built MQTT packets over a plain TCP socket, for tests that need byte-level control.

A library for the `raw_*`, `v5_*` and `auth_*` scripts, not a script itself. Builders
return the bytes of one packet (MQTT 3.1.1 or 5.0); `RawClient` sends them and parses
what the broker answers into `Packet` objects whose `to_json()` the scripts print.
Nothing here retries or hides what the broker did: an unexpected packet or a closed
connection is reported as it was seen.
"""

import json
import socket
import struct
import sys
import time

# Packet types (first nibble of the fixed header).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    8, 9, 10, 11, 12, 13, 14, 15)
TYPE_NAMES = dict(enumerate(
    ["reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
     "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT",
     "AUTH"]))

# The MQTT 5 property identifiers the scripts send (v5 section 2.2.2.2).
MESSAGE_EXPIRY_INTERVAL = 0x02
SESSION_EXPIRY_INTERVAL = 0x11
WILL_DELAY_INTERVAL = 0x18
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_PACKET_SIZE = 0x27

# Every property: the name it is reported under and how its value is encoded.
PROPERTY_TYPES = {
    0x01: ("payload_format_indicator", "byte"),
    0x02: ("message_expiry_interval", "u32"),
    0x03: ("content_type", "string"),
    0x08: ("response_topic", "string"),
    0x09: ("correlation_data", "binary"),
    0x0B: ("subscription_identifier", "varint"),
    0x11: ("session_expiry_interval", "u32"),
    0x12: ("assigned_client_identifier", "string"),
    0x13: ("server_keep_alive", "u16"),
    0x15: ("authentication_method", "string"),
    0x16: ("authentication_data", "binary"),
    0x17: ("request_problem_information", "byte"),
    0x18: ("will_delay_interval", "u32"),
    0x19: ("request_response_information", "byte"),
    0x1A: ("response_information", "string"),
    0x1C: ("server_reference", "string"),
    0x1F: ("reason_string", "string"),
    0x21: ("receive_maximum", "u16"),
    0x22: ("topic_alias_maximum", "u16"),
    0x23: ("topic_alias", "u16"),
    0x24: ("maximum_qos", "byte"),
    0x25: ("retain_available", "byte"),
    0x26: ("user_property", "pair"),
    0x27: ("maximum_packet_size", "u32"),
    0x28: ("wildcard_subscription_available", "byte"),
    0x29: ("subscription_identifier_available", "byte"),
    0x2A: ("shared_subscription_available", "byte"),
}

DEFAULT_TIMEOUT = 5.0


class Failure(Exception):
    """The script could not make its observation (not: the broker answered wrongly)."""


class Closed(Exception):
    """The broker closed the connection."""


# ---------------------------------------------------------------------------------------
# Encoding


def varint(value):
    """Variable byte integer (section 1.5.5)."""
    out = bytearray()
    while True:
        digit = value % 128
        value //= 128
        if value > 0:
            digit |= 0x80
        out.append(digit)
        if value == 0:
            return bytes(out)


def utf8(text):
    """Length-prefixed string; `bytes` are sent as they are (to send invalid UTF-8)."""
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    return struct.pack("!H", len(data)) + data


def binary(data):
    return struct.pack("!H", len(data)) + data


def properties(pairs):
    """Property block from (identifier, value) pairs, kept in the given order (user
    properties may repeat). `None` means no property block at all (MQTT 3)."""
    if pairs is None:
        return b""
    body = bytearray()
    for identifier, value in pairs:
        kind = PROPERTY_TYPES[identifier][1]
        body += varint(identifier)
        if kind == "byte":
            body += struct.pack("!B", value)
        elif kind == "u16":
            body += struct.pack("!H", value)
        elif kind == "u32":
            body += struct.pack("!I", value)
        elif kind == "varint":
            body += varint(value)
        elif kind == "binary":
            body += binary(value)
        elif kind == "string":
            body += utf8(value)
        else:
            body += utf8(value[0]) + utf8(value[1])
    return varint(len(body)) + bytes(body)


def packet(first_byte, body):
    """Fixed header (type and flags in `first_byte`, remaining length) plus body."""
    return bytes([first_byte]) + varint(len(body)) + body


def connect(client_id, version=5, clean_start=True, keep_alive=60, props=(), username=None,
            password=None, will=None, protocol_name="MQTT"):
    """CONNECT. `version` is the protocol level (4 = 3.1.1, 5 = 5.0). `will` is a dict
    with topic, payload and optionally qos, retain, props (v5 will properties)."""
    flags = 0x02 if clean_start else 0
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
    if password is not None:
        flags |= 0x40
    if username is not None:
        flags |= 0x80
    body = bytearray(utf8(protocol_name) + bytes([version, flags]) + struct.pack("!H", keep_alive))
    if version == 5:
        body += properties(list(props))
    body += utf8(client_id)
    if will is not None:
        if version == 5:
            body += properties(list(will.get("props", ())))
        body += utf8(will["topic"]) + binary(will["payload"])
    if username is not None:
        body += utf8(username)
    if password is not None:
        body += binary(password if isinstance(password, bytes) else password.encode())
    return packet(CONNECT << 4, bytes(body))


def publish(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None, props=(),
            version=5):
    """PUBLISH. `packet_id` defaults to 1 for QoS 1/2 and is omitted for QoS 0 unless
    given (to send a packet id where none belongs)."""
    first = (PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = bytearray(utf8(topic))
    if qos > 0 or packet_id is not None:
        body += struct.pack("!H", 1 if packet_id is None else packet_id)
    if version == 5:
        body += properties(list(props))
    body += payload
    return packet(first, bytes(body))


def subscribe(packet_id, filters, props=(), version=5, flags=0x02):
    """SUBSCRIBE; `filters` is a list of (filter, options byte). v5 options byte: QoS in
    bits 0-1, No Local 0x04, Retain As Published 0x08, Retain Handling in bits 4-5."""
    body = bytearray(struct.pack("!H", packet_id))
    if version == 5:
        body += properties(list(props))
    for topic_filter, options in filters:
        body += utf8(topic_filter) + bytes([options])
    return packet((SUBSCRIBE << 4) | flags, bytes(body))


def ack(kind, packet_id, reason=None):
    """PUBACK, PUBREC, PUBREL or PUBCOMP; a reason code only if given (v5)."""
    flags = 0x02 if kind == PUBREL else 0
    body = struct.pack("!H", packet_id) + (bytes([reason]) if reason is not None else b"")
    return packet((kind << 4) | flags, body)


def disconnect(reason=0, props=None, version=5):
    if version != 5:
        return bytes([DISCONNECT << 4, 0])
    body = bytes([reason]) + (properties(list(props)) if props is not None else b"")
    return packet(DISCONNECT << 4, body)


def pingreq():
    return bytes([PINGREQ << 4, 0])


def auth(reason=0x18, props=()):
    return packet(AUTH << 4, bytes([reason]) + properties(list(props)))


# ---------------------------------------------------------------------------------------
# Decoding


class Reader:
    """Reads fields off the body of one packet."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n):
        if self.remaining() < n:
            raise Failure(f"packet ends early: wanted {n} bytes at {self.pos} of {self.data!r}")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("!H", self.take(2))[0]

    def u32(self):
        return struct.unpack("!I", self.take(4))[0]

    def varint(self):
        value, multiplier = 0, 1
        for _ in range(4):
            digit = self.u8()
            value += (digit & 0x7F) * multiplier
            if digit & 0x80 == 0:
                return value
            multiplier *= 128
        raise Failure("variable byte integer longer than 4 bytes")

    def binary(self):
        return self.take(self.u16())

    def string(self):
        return self.binary().decode("utf-8", errors="replace")

    def properties(self):
        """Property block as a dict; user properties as a list of [key, value] in order,
        subscription identifiers as a list."""
        end = self.varint() + self.pos
        found = {}
        while self.pos < end:
            identifier = self.varint()
            if identifier not in PROPERTY_TYPES:
                raise Failure(f"unknown property {identifier:#x}")
            name, kind = PROPERTY_TYPES[identifier]
            if kind == "byte":
                value = self.u8()
            elif kind == "u16":
                value = self.u16()
            elif kind == "u32":
                value = self.u32()
            elif kind == "varint":
                value = self.varint()
            elif kind == "binary":
                value = self.binary().hex()
            elif kind == "string":
                value = self.string()
            else:
                value = [self.string(), self.string()]
            if name in ("user_property", "subscription_identifier"):
                found.setdefault(name, []).append(value)
            else:
                found[name] = value
        return found


class Packet:
    """One packet from the broker, with its fields decoded for the types a broker sends."""

    def __init__(self, first_byte, body, version):
        self.kind = first_byte >> 4
        self.flags = first_byte & 0x0F
        self.body = body
        self.fields = {}
        reader = Reader(body)
        v5 = version == 5
        if self.kind == CONNACK:
            self.fields["session_present"] = bool(reader.u8() & 0x01)
            self.fields["reason"] = reader.u8()
            if v5 and reader.remaining():
                self.fields["properties"] = reader.properties()
        elif self.kind == PUBLISH:
            qos = (self.flags >> 1) & 0x03
            self.fields.update(qos=qos, dup=bool(self.flags & 0x08), retain=bool(self.flags & 0x01))
            self.fields["topic"] = reader.string()
            if qos > 0:
                self.fields["packet_id"] = reader.u16()
            self.fields["properties"] = reader.properties() if v5 else {}
            payload = reader.take(reader.remaining())
            self.fields["payload"] = payload.decode("utf-8", errors="replace")
        elif self.kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.fields["packet_id"] = reader.u16()
            self.fields["reason"] = reader.u8() if reader.remaining() else 0
        elif self.kind in (SUBACK, UNSUBACK):
            self.fields["packet_id"] = reader.u16()
            if v5:
                self.fields["properties"] = reader.properties()
            self.fields["reasons"] = list(reader.take(reader.remaining()))
        elif self.kind == DISCONNECT:
            self.fields["reason"] = reader.u8() if reader.remaining() else 0
            if reader.remaining():
                self.fields["properties"] = reader.properties()
        elif self.kind == AUTH:
            self.fields["reason"] = reader.u8() if reader.remaining() else 0

    @property
    def name(self):
        return TYPE_NAMES.get(self.kind, f"type {self.kind}")

    def __getitem__(self, key):
        return self.fields[key]

    def to_json(self):
        return dict(type=self.name, **self.fields)

    def __repr__(self):
        return f"{self.name} {self.fields}"


class RawClient:
    """One TCP connection speaking hand-built MQTT. `version` is used to parse replies."""

    def __init__(self, port, version=5, host="127.0.0.1"):
        self.version = version
        self.sock = socket.create_connection((host, port), timeout=DEFAULT_TIMEOUT)
        self.buffer = bytearray()
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)

    def send_unchecked(self, data):
        """Sends bytes the broker may refuse mid-way: a reset while sending is not an
        error here, the caller looks at what the broker answered instead."""
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def half_close(self):
        """Ends our side of the stream, so the broker reads end-of-stream after `send`."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def connect(self, client_id, expect_success=True, **options):
        """Sends CONNECT and returns the CONNACK. With `expect_success`, anything but a
        CONNACK with reason 0 is a Failure."""
        self.send(connect(client_id, version=self.version, **options))
        connack = self.expect(CONNACK)
        if expect_success and connack["reason"] != 0:
            raise Failure(f"{client_id} refused: {connack}")
        return connack

    def _fill(self, deadline):
        """Reads more bytes; raises Closed at end of stream, returns False on timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.closed = True
            raise Closed()
        self.buffer += chunk
        return True

    def recv(self, timeout=DEFAULT_TIMEOUT):
        """The next packet, or None if none arrives within `timeout` seconds. Raises
        Closed when the connection ends first."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse_one()
            if parsed is not None:
                return parsed
            if self.closed:
                raise Closed()
            if not self._fill(deadline):
                return None

    def _parse_one(self):
        if len(self.buffer) < 2:
            return None
        length, multiplier, pos = 0, 1, 1
        while True:
            if pos >= len(self.buffer):
                return None
            digit = self.buffer[pos]
            length += (digit & 0x7F) * multiplier
            multiplier *= 128
            pos += 1
            if digit & 0x80 == 0:
                break
            if pos > 4:
                raise Failure(f"broker sent a bad remaining length: {bytes(self.buffer[:8])!r}")
        if len(self.buffer) < pos + length:
            return None
        first, body = self.buffer[0], bytes(self.buffer[pos:pos + length])
        del self.buffer[:pos + length]
        return Packet(first, body, self.version)

    def expect(self, kind, timeout=DEFAULT_TIMEOUT):
        """The next packet, which must be of type `kind`."""
        try:
            got = self.recv(timeout)
        except Closed:
            raise Failure(f"connection closed while waiting for {TYPE_NAMES[kind]}")
        if got is None:
            raise Failure(f"no {TYPE_NAMES[kind]} within {timeout} s")
        if got.kind != kind:
            raise Failure(f"expected {TYPE_NAMES[kind]}, got {got}")
        return got

    def next_of(self, kind, timeout=DEFAULT_TIMEOUT, skipped=None):
        """The next packet of type `kind`, setting aside others into `skipped` (a list)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.recv(max(0.0, deadline - time.monotonic()))
            except Closed:
                raise Failure(f"connection closed while waiting for {TYPE_NAMES[kind]}")
            if got is None:
                raise Failure(f"no {TYPE_NAMES[kind]} within {timeout} s")
            if got.kind == kind:
                return got
            if skipped is None:
                raise Failure(f"expected {TYPE_NAMES[kind]}, got {got}")
            skipped.append(got)

    def subscribe(self, packet_id, filters, props=()):
        """Subscribes and returns the SUBACK."""
        self.send(subscribe(packet_id, filters, props=props, version=self.version))
        return self.expect(SUBACK)

    def collect_until_closed(self, timeout=DEFAULT_TIMEOUT):
        """Packets received until the broker closes the connection or `timeout` passes.
        Returns a dict with the packets (as JSON), whether it closed, and the reason of
        the first DISCONNECT, if any."""
        packets = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.recv(max(0.0, deadline - time.monotonic()))
            except Closed:
                break
            if got is None:
                break
            packets.append(got)
        disconnects = [p for p in packets if p.kind == DISCONNECT]
        return {
            "packets": [p.to_json() for p in packets],
            "closed": self.closed,
            "disconnect_reason": disconnects[0]["reason"] if disconnects else None,
        }

    def ping(self, timeout=DEFAULT_TIMEOUT, skipped=None):
        """PINGREQ and wait for PINGRESP: proves the connection still works."""
        self.send(pingreq())
        self.next_of(PINGRESP, timeout, skipped if skipped is not None else [])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run_script(main):
    """Runs a script's `main()`: prints its JSON result on one line, or a message on
    stderr and exit status 1 when the script could not observe what it set out to."""
    try:
        result = main()
    except (Failure, Closed, OSError) as error:
        print(f"{sys.argv[0]}: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result, sort_keys=True))
