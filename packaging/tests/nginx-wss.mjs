// The browser's path through the nginx example: log in over HTTPS, ask for the MQTT
// credential the web app asks for (POST /api/v1/mqtt/credentials, web/src/api/mqtt.ts),
// connect with mqtt.js over wss://.../mqtt with it (as web/src/mqtt/client.ts does),
// subscribe to a device's data, print `subscribed`, and wait for one reading.
// Usage: node nginx-wss.mjs https://127.0.0.1:PORT USER PASSWORD DEVICE
// (TLS trust: NODE_EXTRA_CA_CERTS; mqtt.js: MQTT_JS_DIR, where `npm ci` installed it.)
// Prints the received payload and exits 0; exits 1 with a message on failure or after 30 s.
import { createRequire } from 'node:module';
import path from 'node:path';

const [base, username, password, device] = process.argv.slice(2);
if (!device) {
  console.error('usage: node nginx-wss.mjs https://host:port USER PASSWORD DEVICE');
  process.exit(2);
}
const require = createRequire(path.join(process.env.MQTT_JS_DIR, 'package.json'));
const mqtt = require('mqtt');
setTimeout(() => fail('timed out after 30 s'), 30_000);

function fail(message) {
  console.error(message);
  process.exit(1);
}

// What a browser sends on the hub's own page: its Origin (the hub checks it against the
// Host that nginx passes on).
const origin = new URL(base).origin;
const login = await fetch(`${base}/api/v1/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', origin },
  body: JSON.stringify({ username, password }),
});
if (login.status !== 200) fail(`login through nginx: ${login.status} ${await login.text()}`);
const cookie = login.headers.get('set-cookie')?.split(';')[0];
if (!cookie) fail('login set no cookie');
if (!/;\s*secure/i.test(login.headers.get('set-cookie'))) {
  fail(`the session cookie is not Secure behind the HTTPS proxy: ${login.headers.get('set-cookie')}`);
}
const issued = await fetch(`${base}/api/v1/mqtt/credentials`, {
  method: 'POST',
  headers: { cookie, origin },
});
if (issued.status !== 200) fail(`credentials through nginx: ${issued.status} ${await issued.text()}`);
const credential = await issued.json();

const wssUrl = `${base.replace(/^https:/, 'wss:')}/mqtt`;
const client = mqtt.connect(wssUrl, {
  clientId: credential.client_id,
  username: credential.username,
  password: credential.password,
  protocolVersion: 4,
  reconnectPeriod: 0,
  connectTimeout: 15_000,
  clean: true,
});
client.on('error', (error) => fail(`mqtt.js over ${wssUrl}: ${error.message}`));
client.on('connect', () => {
  client.subscribe(`devices/${device}/data`, { qos: 1 }, (error, granted) => {
    if (error) fail(`subscribe: ${error.message}`);
    if (!granted?.length || granted[0].qos > 2) fail(`subscription refused: ${JSON.stringify(granted)}`);
    console.log('subscribed');
  });
});
client.on('message', (topic, payload) => {
  // Printed, then done: the process ends the connection (a DISCONNECT could race the
  // proxy's close and fail with EPIPE after the test has what it came for).
  console.log(`${topic} ${payload.toString()}`);
  process.exit(0);
});
