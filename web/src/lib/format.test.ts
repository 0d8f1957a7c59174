import { describe, expect, it } from 'vitest'
import { axisLabel, formatDuration, formatPoint, formatTime } from './format.ts'

describe('point formatting', () => {
  it('shows a raw reading as whole beats per minute', () => {
    expect(formatPoint({ avg: 72, min: 72, max: 72 }, '1s')).toBe('72 bpm')
  })

  it('shows a bucket as its average and its min-max band', () => {
    expect(formatPoint({ avg: 72.46, min: 60, max: 88 }, '1m')).toBe('72.5 bpm (60–88)')
    expect(formatPoint({ avg: 100, min: 52, max: 171 }, '1d')).toBe('100 bpm (52–171)')
  })

  it('shows a dash where there is no reading (gap or other user only)', () => {
    expect(formatPoint({ avg: null, min: null, max: null }, '1m')).toBe('–')
    expect(formatPoint({ avg: undefined, min: undefined, max: undefined }, '1s')).toBe('–')
  })
})

describe('time formatting', () => {
  const instant = Date.parse('2025-06-01T12:05:07Z')
  it('is as precise as the resolution, in the zone asked for', () => {
    expect(formatTime(instant, 'Europe/Berlin', '1s')).toBe('Sun, 1 Jun 2025, 14:05:07')
    expect(formatTime(instant, 'America/New_York', '1m')).toBe('Sun, 1 Jun 2025, 08:05')
    expect(formatTime(instant, 'UTC', '1d')).toBe('Sun, 1 Jun 2025')
  })

  it('names durations in the largest fitting unit', () => {
    expect(formatDuration(60_000)).toBe('60 s')
    expect(formatDuration(45 * 60_000)).toBe('45 min')
    expect(formatDuration(200 * 60_000)).toBe('3 h 20 min')
    expect(formatDuration(7 * 86_400_000)).toBe('7 days')
  })
})

describe('axis labels', () => {
  const instant = Date.parse('2025-06-01T22:30:15Z')
  it('are 24-hour times in the zone, with the date where asked', () => {
    expect(axisLabel(instant, 3_600_000, 'Europe/Berlin', false)).toBe('00:30')
    expect(axisLabel(instant, 3_600_000, 'Europe/Berlin', true)).toBe('00:30\n2 Jun')
    expect(axisLabel(instant, 5_000, 'UTC', true)).toBe('22:30:15\n1 Jun')
    expect(axisLabel(instant, 86_400_000, 'America/New_York', true)).toBe('1 Jun')
  })
})
