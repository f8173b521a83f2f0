"""Issue 7's whole path through a running hub, as a person and a device would walk it.

Usage: api_e2e.py --http http://127.0.0.1:PORT --mqtt-port PORT --admin-password PW

Logs in as the owner, creates a group, an application and a device over the HTTP API,
connects the device (paho, TCP) with its secret, gets browser MQTT credentials and
connects a second paho client over WebSocket with them, sees the device's reading
arrive there, sends the device a command and waits for it to be acked with the state
the device reports, then logs out and sees the browser connection cut.

Prints one JSON object with what happened; exits 1 only when it could not run.
"""

import argparse
import http.cookiejar
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import paho.mqtt.client as mqtt

WAIT = 20.0


class Api:
    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # As a browser on the hub's own page does: changes made with the session cookie
        # must come from the hub's origin (cross-site request forgery).
        request.add_header("Origin", self.base)
        try:
            with self.opener.open(request, timeout=WAIT) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read().decode()
            return error.code, json.loads(text) if text else None


def wait_until(condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--admin-password", required=True)
    args = parser.parse_args()
    api = Api(args.http)
    out = {}

    out["bad_login"], _ = api.call("POST", "/api/v1/auth/login",
                                   {"username": "admin", "password": "wrong"})
    out["login"], _ = api.call("POST", "/api/v1/auth/login",
                               {"username": "admin", "password": args.admin_password})
    out["group"], _ = api.call("POST", "/api/v1/groups", {"id": "cabin", "name": "Cabin"})
    out["app"], _ = api.call("POST", "/api/v1/apps",
                             {"id": "cabin-lights", "group": "cabin", "name": "Cabin lights"})
    out["device"], created = api.call("POST", "/api/v1/devices",
                                      {"id": "cabin-relay", "app": "cabin-lights",
                                       "kind": "relay", "room": "hall"})
    secret = created["secret"]
    out["bad_device"], bad = api.call("POST", "/api/v1/devices",
                                      {"id": "bad/id", "app": "cabin-lights"})
    out["bad_device_field"] = (bad or {}).get("error", {}).get("field")

    # The device: answers every command with ok and the state it switched to.
    device_connected = threading.Event()
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cabin-relay",
                         protocol=mqtt.MQTTv311)
    device.username_pw_set("cabin-relay", secret)

    def on_device_connect(client, userdata, flags, reason, properties):
        client.subscribe("devices/cabin-relay/commands/+", qos=1)

    def on_device_subscribe(client, userdata, mid, reasons, properties):
        device_connected.set()

    def on_command(client, userdata, message):
        params = json.loads(message.payload)
        reply = {"id": params["id"], "ok": True, "state": {"on": params.get("on")}}
        client.publish(message.topic + "/ack", json.dumps(reply), qos=1)

    device.on_connect = on_device_connect
    device.on_subscribe = on_device_subscribe
    device.on_message = on_command
    device.connect("127.0.0.1", args.mqtt_port)
    device.loop_start()
    out["device_connected"] = device_connected.wait(WAIT)

    # The browser: credentials from the API, MQTT over WebSocket.
    out["credentials"], creds = api.call("POST", "/api/v1/mqtt/credentials")
    url = urllib.parse.urlparse(creds["ws_url"])
    seen = []
    browser_subscribed = threading.Event()
    browser_gone = threading.Event()
    browser = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=creds["client_id"],
                          transport="websockets", protocol=mqtt.MQTTv5)
    browser.ws_set_options(path=url.path)
    browser.username_pw_set(creds["username"], creds["password"])
    browser_granted = []

    def on_browser_connect(client, userdata, flags, reason, properties):
        client.subscribe("devices/cabin-relay/#", qos=1)

    def on_browser_subscribe(client, userdata, mid, reasons, properties):
        browser_granted.extend(r.value for r in reasons)
        browser_subscribed.set()

    def on_browser_message(client, userdata, message):
        seen.append((message.topic, message.payload.decode(errors="replace")))

    def on_browser_disconnect(client, userdata, flags, reason, properties):
        browser_gone.set()

    browser.on_connect = on_browser_connect
    browser.on_subscribe = on_browser_subscribe
    browser.on_message = on_browser_message
    browser.on_disconnect = on_browser_disconnect
    browser.reconnect_delay_set(min_delay=60, max_delay=60)
    browser.connect(url.hostname, url.port)
    browser.loop_start()
    out["browser_subscribed"] = browser_subscribed.wait(WAIT)
    out["browser_granted"] = browser_granted

    device.publish("devices/cabin-relay/data", json.dumps({"temperature": 20.5}), qos=1)
    out["browser_saw_data"] = wait_until(
        lambda: any(t == "devices/cabin-relay/data" for t, _ in seen))

    out["command"], command = api.call("POST", "/api/v1/devices/cabin-relay/commands",
                                       {"name": "relay", "params": {"on": True}})
    final = {}

    def acked():
        _, body = api.call("GET", "/api/v1/commands/" + command["id"])
        final.update(body or {})
        return final.get("status") in ("acked", "failed", "timeout")

    wait_until(acked)
    out["command_status"] = final.get("status")
    out["command_state"] = final.get("reported_state")
    out["browser_saw_command_status"] = wait_until(
        lambda: any(t == "devices/cabin-relay/command-status" and '"acked"' in p
                    for t, p in seen))
    # The final command as the API returned it and as MQTT carried it, for the Rust side
    # to decode both into the one type (popped from `out` there).
    out["command_from_api"] = final
    out["command_from_mqtt"] = next(
        (json.loads(p) for t, p in seen
         if t == "devices/cabin-relay/command-status" and '"acked"' in p), None)
    _, live = api.call("GET", "/api/v1/devices/cabin-relay")
    out["device_online"] = live["live"]["is_online"]
    out["last_report"] = live["live"]["last_report_data"]

    out["logout"], _ = api.call("POST", "/api/v1/auth/logout")
    out["browser_cut_on_logout"] = browser_gone.wait(WAIT)
    out["after_logout"], _ = api.call("GET", "/api/v1/auth/me")

    browser.loop_stop()
    device.loop_stop()
    device.disconnect()
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - report any failure to the Rust test
        print(f"api_e2e.py: {error!r}", file=sys.stderr)
        sys.exit(1)
