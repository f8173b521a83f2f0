// The group's place card mounted, with the hub's answers held back: nothing can be typed
// (or saved) before the group's place has come, and an answer for a group the page has
// left never replaces the current group's place.
import { flushPromises, mount } from '@vue/test-utils'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import * as placesApi from '@/api/places'
import type { GroupPlace } from '@/api/places'
import { i18n } from '@/locales'
import PlaceCard from '@/views/automations/modules/PlaceCard.vue'

/** A promise and the hands that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((done) => (resolve = done))
  return { promise, resolve }
}

const find = (selector: string) => document.body.querySelector<HTMLElement>(selector)
const timeZone = () => find('input[name="time-zone"]') as HTMLInputElement

async function mountOpen(group: string) {
  const wrapper = mount(PlaceCard, { props: { group, canWrite: true }, global: { plugins: [i18n] }, attachTo: document.body })
  find('.n-collapse-item__header-main')!.click()
  await flushPromises()
  return wrapper
}

beforeEach(() => {
  i18n.global.locale.value = 'en'
})
afterEach(() => {
  vi.restoreAllMocks()
  document.body.innerHTML = ''
})

describe('PlaceCard', () => {
  it('keeps its fields and Save disabled until the group\'s place has come', async () => {
    const answer = deferred<GroupPlace>()
    vi.spyOn(placesApi, 'fetchPlace').mockReturnValue(answer.promise)
    const setPlace = vi.spyOn(placesApi, 'setPlace')
    const wrapper = await mountOpen('home')
    expect(find('[data-test="group-place"]')?.getAttribute('data-state')).toBe('loading')
    expect(timeZone().disabled).toBe(true)
    expect(find('[data-test="place-save"]')?.hasAttribute('disabled')).toBe(true)
    find('[data-test="place-save"]')!.click()
    await flushPromises()
    expect(setPlace).not.toHaveBeenCalled()

    answer.resolve({ time_zone: 'Europe/Paris' })
    await flushPromises()
    expect(find('[data-test="group-place"]')?.getAttribute('data-state')).toBe('ready')
    expect(timeZone().disabled).toBe(false)
    expect(timeZone().value).toBe('Europe/Paris')
    wrapper.unmount()
  })

  it('shows (and saves) the current group\'s place when an earlier group\'s answer comes last', async () => {
    const answers: Record<string, ReturnType<typeof deferred<GroupPlace>>> = { home: deferred(), cabin: deferred() }
    vi.spyOn(placesApi, 'fetchPlace').mockImplementation((group) => answers[group].promise)
    const setPlace = vi.spyOn(placesApi, 'setPlace').mockImplementation(async (_group, place) => place)
    const wrapper = await mountOpen('home')
    await wrapper.setProps({ group: 'cabin' })
    answers.cabin.resolve({ time_zone: 'Asia/Shanghai' })
    await flushPromises()
    answers.home.resolve({ time_zone: 'Europe/Paris' })
    await flushPromises()
    expect(timeZone().value).toBe('Asia/Shanghai')

    find('[data-test="place-save"]')!.click()
    await flushPromises()
    expect(setPlace).toHaveBeenCalledWith('cabin', { time_zone: 'Asia/Shanghai', latitude: null, longitude: null })
    expect(find('[data-test="group-place"]')?.textContent).toContain('Saved')
    wrapper.unmount()
  })
})
