// A Tasmota plug over real MQTT (mqtt.js in Node), speaking as Tasmota 9 does with Home
// Assistant discovery on (SetOption19 1): it logs in with the discovery application's key
// and secret under its own client id (DVES_<id>), sets its LWT `tele/<topic>/LWT` =
// `Offline` (retained), says `Online`, subscribes to its command topics, and publishes its
// retained discovery configs under `homeassistant/`. A `cmnd/<topic>/POWER` of ON, OFF,
// TOGGLE, 1 or 0 switches the relay; it answers on `stat/<topic>/RESULT` and
// `stat/<topic>/POWER`, and on its state topic `tele/<topic>/STATE` (SetOption59, which
// discovery turns on), as the firmware does.
import mqtt from 'mqtt'

/** The plug: a Tasmota plug (MAC ..35EBF6) with the default topic and full topic `%prefix%/%topic%/`. */
export const TASMOTA_PLUG = { name: 'EZPlug', id: '35EBF6', topic: 'EZPlug_35EBF6', model: 'Generic', sw: '9.1.0(tasmota)' }

/**
 * Its discovery configs, byte for byte in Tasmota's order and abbreviations (the relay:
 * name, state topic, availability, command, payloads, value template, unique id, short
 * device info; the status sensor carries the device's name, model and firmware), as
 * captured from a Tasmota plug of this kind (SetOption19 1). Retained.
 */
export function tasmotaConfigs({ id, topic, name, model, sw } = TASMOTA_PLUG) {
  const availability = `"avty_t":"tele/${topic}/LWT","pl_avail":"Online","pl_not_avail":"Offline"`
  return [
    [`homeassistant/switch/${id}_RL_1/config`,
      `{"name":"${name}","stat_t":"tele/${topic}/STATE",${availability},"cmd_t":"cmnd/${topic}/POWER","pl_off":"OFF","pl_on":"ON","val_tpl":"{{value_json.POWER}}","uniq_id":"${id}_RL_1","dev":{"ids":["${id}"]}}`],
    [`homeassistant/sensor/${id}_status/config`,
      `{"name":"${name} status","stat_t":"tele/${topic}/HASS_STATE",${availability},"json_attr_t":"tele/${topic}/HASS_STATE","unit_of_meas":"%","val_tpl":"{{value_json['RSSI']}}","ic":"mdi:information-outline","uniq_id":"${id}_status","dev":{"ids":["${id}"],"name":"${name}","mdl":"${model}","sw":"${sw}","mf":"Tasmota"}}`],
  ]
}

export async function connectTasmota(url, key, secret, plug = TASMOTA_PLUG) {
  const { id, topic } = plug
  const state = { power: 'OFF' }
  /** Every command received, in order: `{topic, payload}`. */
  const commands = []
  const client = await mqtt.connectAsync(url, {
    clientId: `DVES_${id}`,
    username: key,
    password: secret,
    reconnectPeriod: 0,
    will: { topic: `tele/${topic}/LWT`, payload: 'Offline', qos: 1, retain: true },
  })
  const stateMessage = () => JSON.stringify({
    Time: new Date().toISOString().slice(0, 19), Uptime: '0T00:01:02', UptimeSec: 62, Heap: 25, SleepMode: 'Dynamic', Sleep: 50,
    LoadAvg: 19, MqttCount: 1, POWER: state.power, Wifi: { AP: 1, SSId: 'home', Channel: 6, Mode: '11n', RSSI: 76, Signal: -62, LinkCount: 1, Downtime: '0T00:00:03' },
  })
  client.on('message', (received, payload) => {
    if (received !== `cmnd/${topic}/POWER`) return
    const text = payload.toString()
    commands.push({ topic: received, payload: text })
    const wanted = text.toUpperCase()
    if (wanted === 'ON' || wanted === '1') state.power = 'ON'
    else if (wanted === 'OFF' || wanted === '0') state.power = 'OFF'
    else if (wanted === 'TOGGLE' || wanted === '2') state.power = state.power === 'ON' ? 'OFF' : 'ON'
    void (async () => {
      await client.publishAsync(`stat/${topic}/RESULT`, JSON.stringify({ POWER: state.power }))
      await client.publishAsync(`stat/${topic}/POWER`, state.power)
      await client.publishAsync(`tele/${topic}/STATE`, stateMessage())
    })()
  })
  await client.publishAsync(`tele/${topic}/LWT`, 'Online', { qos: 1, retain: true })
  await client.subscribeAsync([`cmnd/${topic}/#`, 'cmnd/tasmotas/#', `cmnd/DVES_${id}_fb/#`, 'homeassistant/status'])
  for (const [configTopic, config] of tasmotaConfigs(plug)) {
    await client.publishAsync(configTopic, config, { qos: 1, retain: true })
  }
  await client.publishAsync(`tele/${topic}/STATE`, stateMessage())
  return {
    state,
    commands,
    client,
    /** A TelePeriod (300 s by default): Tasmota's periodic `tele/<topic>/STATE`, made to happen now. */
    tele: () => client.publishAsync(`tele/${topic}/STATE`, stateMessage()),
    close: () => client.endAsync(),
  }
}
