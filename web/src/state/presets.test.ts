import { describe, expect, it } from 'vitest'
import { PRESET_IDS, resolvePreset } from './presets.ts'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const newest = Date.parse('2025-06-30T21:59:58Z')
const extent = { start: Date.parse('2025-06-01T00:00:03Z'), end: newest }

describe('resolvePreset', () => {
  it('ends at the minute after the newest reading, so its bucket is inside', () => {
    const window = resolvePreset('7d', extent, Date.parse('2026-01-01T00:00:00Z'))
    expect(window.end).toBe(Date.parse('2025-06-30T22:00:00Z'))
    expect(window.start).toBe(window.end - 7 * DAY)
  })

  it.each([
    ['1h', HOUR],
    ['24h', DAY],
    ['30d', 30 * DAY],
    ['90d', 90 * DAY],
    ['1y', 365 * DAY],
  ] as const)('%s spans its duration', (preset, duration) => {
    const window = resolvePreset(preset, extent, 0)
    expect(window.end - window.start).toBe(duration)
  })

  it('all starts at the first reading (its minute)', () => {
    const window = resolvePreset('all', extent, 0)
    expect(window.start).toBe(Date.parse('2025-06-01T00:00:00Z'))
    expect(window.end).toBe(Date.parse('2025-06-30T22:00:00Z'))
  })

  it('without readings ends at the current minute', () => {
    const now = Date.parse('2025-07-01T12:00:30Z')
    expect(resolvePreset('1h', null, now)).toEqual({
      start: Date.parse('2025-07-01T11:01:00Z'),
      end: Date.parse('2025-07-01T12:01:00Z'),
    })
    expect(resolvePreset('all', null, now).end - resolvePreset('all', null, now).start).toBe(7 * DAY)
  })

  it('has the presets the range picker offers', () => {
    expect(PRESET_IDS).toEqual(['1h', '24h', '7d', '30d', '90d', '1y', 'all'])
  })
})
