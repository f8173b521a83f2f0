"""Keep-alive, from a raw socket (a library would send PINGREQ on its own).

Modes (--mode):
- silent: CONNECT with --keepalive seconds, then send nothing and read until the broker
  closes the connection or --wait seconds pass.
- ping:   CONNECT with --keepalive seconds, then send PINGREQ every --interval seconds
  for --duration seconds, reading the PINGRESPs; finally check the connection still
  answers and DISCONNECT.

Output (silent): {"closed": bool, "packets": [names read], "disconnect_reason": int|null}.
Output (ping):   {"pingresps": n, "pings": n, "still_open": bool}.
"""

import socket
import time
import uuid

import mqttkit


def silent(args, raw):
    packets, reason, closed = [], None, False
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        try:
            kind, _flags, body = raw.read_packet(timeout=max(0.01, deadline - time.monotonic()))
        except EOFError:
            closed = True
            break
        except ConnectionResetError:
            closed = True
            break
        except socket.timeout:
            break
        packets.append(kind)
        if kind == "DISCONNECT":
            reason = body[0] if body else 0
    return {"closed": closed, "packets": packets, "disconnect_reason": reason}


def ping(args, raw):
    pings = pingresps = 0
    deadline = time.monotonic() + args.duration
    while time.monotonic() < deadline:
        raw.send(mqttkit.PINGREQ)
        pings += 1
        try:
            kind, _flags, _body = raw.read_packet(timeout=mqttkit.WAIT)
        except (EOFError, ConnectionResetError):
            raise mqttkit.Failure("closed by the broker after %d PINGREQs" % pings)
        if kind != "PINGRESP":
            raise mqttkit.Failure("expected PINGRESP, got " + kind)
        pingresps += 1
        time.sleep(args.interval)
    raw.send(mqttkit.PINGREQ)
    try:
        raw.expect("PINGRESP")
        still_open = True
    except mqttkit.Failure:
        still_open = False
    raw.send(mqttkit.DISCONNECT)
    return {"pingresps": pingresps, "pings": pings, "still_open": still_open}


def scenario(args):
    raw = mqttkit.RawClient(args.host, args.port)
    raw.connect("ka-" + uuid.uuid4().hex[:8], version=args.version, keepalive=args.keepalive)
    result = silent(args, raw) if args.mode == "silent" else ping(args, raw)
    raw.close()
    return result


def main():
    arguments = mqttkit.parser(__doc__.splitlines()[0])
    arguments.add_argument("--mode", choices=["silent", "ping"], required=True)
    arguments.add_argument("--version", choices=["311", "5"], default="311")
    arguments.add_argument("--keepalive", type=int, default=1)
    arguments.add_argument("--wait", type=float, default=10.0, help="silent: how long to wait for the close")
    arguments.add_argument("--interval", type=float, default=0.4, help="ping: seconds between PINGREQs")
    arguments.add_argument("--duration", type=float, default=3.0, help="ping: seconds to keep pinging")
    mqttkit.run(arguments, scenario)


if __name__ == "__main__":
    main()
