// mqtt.js over WebSocket, as a browser would use it: a subscriber and a publisher on
// ws://HOST:PORT/mqtt (subprotocol "mqtt"), MQTT 5 and 3.1.1, QoS 1, a retained message.
// Usage: node ws_roundtrip.mjs ws://127.0.0.1:PORT/mqtt
// Prints one JSON object; exits non-zero with a message on failure or after 10 s.
import mqtt from 'mqtt';

const url = process.argv[2];
if (!url) {
  console.error('usage: node ws_roundtrip.mjs ws://host:port/mqtt');
  process.exit(2);
}
const deadline = setTimeout(() => {
  console.error('timed out');
  process.exit(1);
}, 10_000);

function connect(clientId, protocolVersion) {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, protocolVersion, reconnectPeriod: 0, connectTimeout: 5_000 });
    client.once('connect', (connack) => resolve({ client, connack }));
    client.once('error', reject);
  });
}

const result = {};
try {
  const { client: retainer } = await connect('js-retainer', 4);
  await retainer.publishAsync('js/state', 'on', { qos: 1, retain: true });
  await retainer.endAsync();

  const { client: subscriber, connack } = await connect('js-subscriber', 5);
  result.v5_connack_receive_maximum = connack.properties?.receiveMaximum ?? null;
  const received = [];
  const done = new Promise((resolve) => {
    subscriber.on('message', (topic, payload, packet) => {
      received.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos });
      if (received.length === 3) resolve();
    });
  });
  const granted = await subscriber.subscribeAsync('js/#', { qos: 1 });
  result.granted = granted.map((g) => g.qos);

  const { client: publisher } = await connect('js-publisher', 4);
  await publisher.publishAsync('js/a', 'hello', { qos: 1 });
  await publisher.publishAsync('js/b', 'world', { qos: 0 });
  await done;
  result.received = received;
  await publisher.endAsync();
  await subscriber.endAsync();
  clearTimeout(deadline);
  console.log(JSON.stringify(result));
} catch (error) {
  console.error(`failed: ${error?.message ?? error}`);
  process.exit(1);
}
