// A simulated device over real MQTT (mqtt.js in Node): it logs in with its id and secret,
// sets the offline will, publishes readings, and answers `switch` commands with an ack
// carrying its new state, as firmware would (SPEC §4). With `reportState`, it then also
// reports that state as a reading (`{"on": true}`), as lamps do; `accepts` names the
// commands it acks as done (others are answered `ok: false`); `event` reports an event.
import mqtt from 'mqtt'

export async function connectDevice(url, id, secret, { reportState = false, accepts = ['switch'] } = {}) {
  const state = { on: false }
  /** Every command received, in order: `{name, params}`. */
  const commands = []
  // While held, acks wait: the test can see the app's "pending" before the answer.
  let release = null
  let held = Promise.resolve()
  const client = await mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password: secret,
    reconnectPeriod: 0,
    will: { topic: `devices/${id}/status`, payload: 'offline', qos: 1, retain: true },
  })
  await client.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 })
  client.on('message', (topic, payload) => {
    const match = new RegExp(`^devices/${id}/commands/([^/]+)$`).exec(topic)
    if (!match) return
    const command = JSON.parse(payload.toString())
    commands.push({ name: match[1], params: command })
    void held.then(async () => {
      if (match[1] === 'switch' && typeof command.on === 'boolean') state.on = command.on
      const ack = { id: command.id, ok: accepts.includes(match[1]), state: { on: state.on } }
      await client.publishAsync(`${topic}/ack`, JSON.stringify(ack), { qos: 1 })
      if (reportState) await client.publishAsync(`devices/${id}/data`, JSON.stringify({ on: state.on }), { qos: 1 })
    })
  })
  await client.publishAsync(`devices/${id}/status`, 'online', { qos: 1, retain: true })
  return {
    state,
    commands,
    publish: (readings) => client.publishAsync(`devices/${id}/data`, JSON.stringify(readings), { qos: 1 }),
    /** An event (`devices/{id}/events`), such as a smoke detector's `{"smoke": true}`. */
    event: (fields) => client.publishAsync(`devices/${id}/events`, JSON.stringify(fields), { qos: 1 }),
    hold() {
      held = new Promise((resolve) => (release = resolve))
    },
    release: () => release?.(),
    close: () => client.endAsync(),
  }
}
