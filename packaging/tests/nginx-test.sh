#!/usr/bin/env bash
# The nginx example (packaging/nginx/hearth.conf) in front of a real hub, with Debian's
# nginx on loopback:
#
#   packaging/tests/nginx-test.sh BINARY
#
# The hub (BINARY, ports 0, a throw-away data dir, [api] trust_forwarded_for and
# secure_cookies as the example says) sits behind nginx running the example with only
# its listen ports, upstream addresses and certificate paths replaced (a throw-away CA
# and server certificate made with openssl). Checked: HTTP answers 301 to https://, the
# HTTPS answers carry HSTS, /healthz and the web app come through; a browser credential
# (login and POST /api/v1/mqtt/credentials over HTTPS, then mqtt.js over
# wss://.../mqtt, all through nginx) receives a reading a device publishes with
# mosquitto_pub on the hub's own MQTT port. A missing nginx is a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 BINARY" >&2; exit 2; }
binary=$(readlink -f "$1")
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || fail "missing nginx: apt-get install nginx (.ci/run installs it)"
for tool in openssl curl node mosquitto_pub python3; do need "$tool" "see .ci/run"; done
export MQTT_JS_DIR="$root/crates/hearth-broker/tests/js"
[ -d "$MQTT_JS_DIR/node_modules/mqtt" ] || fail "mqtt.js is not installed: make js-deps"

work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-nginx-test.XXXXXX")
hub=
proxy=
cleanup() {
    [ -n "$proxy" ] && stop_pid "$proxy"
    [ -n "$hub" ] && stop_pid "$hub"
    rm -rf "$work"
}
trap cleanup EXIT

# A CA and a certificate for 127.0.0.1 signed by it (what an ACME client would write).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Hearth test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/privkey.pem" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/ext" -out "$work/fullchain.pem" 2>/dev/null

# The hub, configured as the example's header asks.
cat >"$work/hearth.toml" <<TOML
data_dir = "$work/data"
[api]
trust_forwarded_for = true
secure_cookies = true
TOML
printf 'nginx-test-password-1\n' >"$work/owner-password"
"$binary" --config "$work/hearth.toml" group add nginx-home >/dev/null
"$binary" --config "$work/hearth.toml" app add nginx-app --group nginx-home >/dev/null
"$binary" --config "$work/hearth.toml" device add nginx-sensor --app nginx-app --json >"$work/device.json"
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$work/device.json")
"$binary" serve --config "$work/hearth.toml" --mqtt 127.0.0.1:0 --ws 127.0.0.1:0 \
    --http 127.0.0.1:0 --admin-password-file "$work/owner-password" --print-addrs \
    >"$work/addrs" 2>"$work/addrs.err" &
hub=$!
wait_ready "$work/addrs" "$hub"
owner=$(sed -n 's/.*created the owner account `\([^`]*\)`.*/\1/p' "$work/addrs.err" | head -1)
[ -n "$owner" ] || fail "the hub did not say who the owner is: $(head -c 2000 "$work/addrs.err")"
"$binary" --config "$work/hearth.toml" group member nginx-home "$owner" owner >/dev/null 2>&1 || true

# The example with this run's ports and files: its lines, replaced one for one.
http_port=$(free_port)
tls_port=$(free_port)
sed -e "s|server 127.0.0.1:8080;|server $(addr "$work/addrs" http);|" \
    -e "s|server 127.0.0.1:8083;|server $(addr "$work/addrs" ws);|" \
    -e "s|^    listen 80;|    listen 127.0.0.1:$http_port;|" \
    -e "s|^    listen 443 ssl http2;|    listen 127.0.0.1:$tls_port ssl http2;|" \
    -e "/^    listen \[::\]/d" \
    -e "s|/etc/ssl/hearth/|$work/|" \
    "$root/packaging/nginx/hearth.conf" >"$work/hearth.conf"
for expect in "server $(addr "$work/addrs" http);" "server $(addr "$work/addrs" ws);" \
    "listen 127.0.0.1:$http_port;" "listen 127.0.0.1:$tls_port ssl http2;" "$work/fullchain.pem"; do
    grep -qF "$expect" "$work/hearth.conf" || fail "the example changed shape: no line for $expect"
done
# Root starts nginx's workers as `nobody`, which could not use this run's directories.
user_line=
[ "$(id -u)" -eq 0 ] && user_line="user root;"
cat >"$work/nginx.conf" <<CONF
$user_line
worker_processes 1;
error_log $work/error.log warn;
events { worker_connections 64; }
http {
    access_log $work/access.log;
    client_body_temp_path $work/client_body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    include $work/hearth.conf;
}
CONF
"$nginx" -t -p "$work" -e "$work/error.log" -c "$work/nginx.conf" -g "pid $work/nginx.pid;" \
    >"$work/nginx-t.log" 2>&1 || fail "nginx -t: $(cat "$work/nginx-t.log")"
"$nginx" -p "$work" -e "$work/error.log" -c "$work/nginx.conf" \
    -g "daemon off; pid $work/nginx.pid;" >"$work/nginx.out" 2>&1 &
proxy=$!
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$http_port/" && break
    kill -0 "$proxy" 2>/dev/null || fail "nginx exited: $(cat "$work/error.log" "$work/nginx.out")"
    sleep 0.1
done
ok "nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///') runs the example on :$http_port and :$tls_port"

# HTTP: a 301 to the same path over HTTPS.
curl -s -o /dev/null -D "$work/h301" "http://127.0.0.1:$http_port/devices?x=1"
grep -q '^HTTP/1.1 301' "$work/h301" || fail "HTTP did not answer 301: $(cat "$work/h301")"
grep -qi '^location: https://127.0.0.1/devices?x=1' "$work/h301" ||
    fail "the 301 does not point at the same path over HTTPS: $(cat "$work/h301")"
ok "HTTP answers 301 to https://"

https="https://127.0.0.1:$tls_port"
curl -fsS --cacert "$work/ca.pem" -D "$work/hz" "$https/healthz" >"$work/healthz" ||
    fail "/healthz through nginx"
grep -qi '^strict-transport-security: max-age=31536000' "$work/hz" || fail "no HSTS: $(cat "$work/hz")"
grep -q '"status":"ok"' "$work/healthz" || fail "/healthz: $(cat "$work/healthz")"
curl -fsS --cacert "$work/ca.pem" -D "$work/hweb" "$https/devices" >"$work/app.html" ||
    fail "the web app through nginx"
grep -qi '^content-type: text/html' "$work/hweb" || fail "the web app's page is not HTML"
grep -qi '^strict-transport-security:' "$work/hweb" || fail "no HSTS on the web app's page"
code=$(curl -s --cacert "$work/ca.pem" -o /dev/null -w '%{http_code}' "$https/api/v1/devices")
[ "$code" = 401 ] || fail "the API through nginx answered $code without a session, not 401"
ok "HTTPS: HSTS, /healthz, the web app, the API (401 without a session)"

# The browser's live view through the proxy.
NODE_EXTRA_CA_CERTS="$work/ca.pem" node "$here/nginx-wss.mjs" "$https" "$owner" \
    nginx-test-password-1 nginx-sensor >"$work/browser.out" 2>"$work/browser.err" &
browser=$!
for _ in $(seq 1 300); do
    grep -qx subscribed "$work/browser.out" && break
    kill -0 "$browser" 2>/dev/null || break
    sleep 0.1
done
grep -qx subscribed "$work/browser.out" || { wait "$browser" || true;
    fail "the browser client did not subscribe: $(cat "$work/browser.err")"; }
mqtt=$(addr "$work/addrs" mqtt)
mosquitto_pub -h "${mqtt%:*}" -p "${mqtt##*:}" -q 1 -i nginx-sensor -u nginx-sensor -P "$secret" \
    -t devices/nginx-sensor/data -m '{"temperature": 22.25}' || fail "the device could not publish"
wait "$browser" || fail "the browser client got nothing: $(cat "$work/browser.err")"
grep -q '^devices/nginx-sensor/data .*22.25' "$work/browser.out" ||
    fail "the browser client got something else: $(cat "$work/browser.out")"
grep -q 'GET /mqtt HTTP/1.1" 101' "$work/access.log" || fail "nginx did not log the WebSocket upgrade"
ok "a browser credential over wss://127.0.0.1:$tls_port/mqtt received the device's reading"
