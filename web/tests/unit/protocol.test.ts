// The web app's copy of the device protocol against the fixture the Rust side writes
// (crates/hearth-model/tests/web_fixture.rs fails when the fixture is stale): the topic
// grammar, the presence words of `status` payloads and the final command statuses.
import { describe, expect, it } from 'vitest'
import { COMMAND_STATUSES, isFinalStatus, PRESENCE_WORDS, statusPresence } from '@/mqtt/protocol'
import { deviceTopic, parseDeviceTopic, type DeviceTopicKind } from '@/mqtt/topics'
import { useLiveStore } from '@/stores/live'
import { createPinia, setActivePinia } from 'pinia'
import fixture from '../fixtures/device-protocol.json'

describe('the device topic grammar', () => {
  it.each(fixture.topics.map((entry) => [entry.topic, entry.parsed] as const))('parses %s', (topic, parsed) => {
    expect(parseDeviceTopic(topic)).toEqual(parsed)
  })

  it('builds what the hub builds', () => {
    const { builders } = fixture
    const kinds: DeviceTopicKind[] = ['data', 'status', 'heartbeat', 'events', 'command-status', 'command', 'command-ack', 'snapshot']
    for (const kind of kinds) {
      expect(deviceTopic(builders.device, kind, builders.command_name), kind).toBe(builders[kind])
    }
  })
})

describe('the presence vocabulary', () => {
  it('has the hub’s words', () => {
    expect(PRESENCE_WORDS).toEqual(Object.fromEntries(fixture.presence_words.map((entry) => [entry.word, entry.presence])))
  })

  it.each(fixture.status_payloads.map((entry) => [entry.payload, entry.presence] as const))(
    'reads %j as the hub does',
    (payload, presence) => {
      expect(statusPresence(payload)).toBe(presence)
    },
  )

  it.each(fixture.status_payloads.map((entry) => [entry.payload, entry.presence] as const))(
    'shows a device that said %j online as the hub does',
    (payload, presence) => {
      setActivePinia(createPinia())
      const live = useLiveStore()
      live.applyMessage('devices/lamp/status', payload)
      expect(live.devices.lamp.online).toBe(presence !== 'offline')
    },
  )
})

describe('command statuses', () => {
  it('are the hub’s, with the same final ones', () => {
    expect(COMMAND_STATUSES).toEqual(fixture.command_statuses.map((entry) => entry.status))
    for (const entry of fixture.command_statuses) expect(isFinalStatus(entry.status), entry.status).toBe(entry.final)
  })
})
