import { describe, expect, it } from 'vitest'
import { fromWallInput, isTimeZone, localDate, offsetMs, toWallInput } from './time.ts'

describe('time zones', () => {
  it('converts a wall-clock time in a zone to the instant and back', () => {
    const ms = fromWallInput('2025-06-01T14:05', 'Europe/Berlin')
    expect(ms).toBe(Date.parse('2025-06-01T12:05:00Z'))
    expect(toWallInput(ms as number, 'Europe/Berlin')).toBe('2025-06-01T14:05')
    expect(fromWallInput('2025-01-15T08:00:30', 'America/New_York')).toBe(Date.parse('2025-01-15T13:00:30Z'))
  })

  it('takes the first of a repeated fall-back time and moves a skipped one forward', () => {
    expect(fromWallInput('2025-10-26T02:30', 'Europe/Berlin')).toBe(Date.parse('2025-10-26T00:30:00Z'))
    expect(fromWallInput('2025-03-30T02:30', 'Europe/Berlin')).toBe(Date.parse('2025-03-30T01:30:00Z'))
  })

  it('refuses what is not a date-time', () => {
    expect(fromWallInput('', 'UTC')).toBeNull()
    expect(fromWallInput('2025-02-30T10:00', 'UTC')).toBeNull()
    expect(fromWallInput('2025-06-01T25:00', 'UTC')).toBeNull()
  })

  it('gives local dates and offsets', () => {
    const ms = Date.parse('2025-06-01T23:30:00Z')
    expect(localDate(ms, 'Europe/Berlin')).toBe('2025-06-02')
    expect(localDate(ms, 'America/New_York')).toBe('2025-06-01')
    expect(offsetMs(ms, 'Europe/Berlin')).toBe(2 * 3_600_000)
    expect(offsetMs(ms, 'America/New_York')).toBe(-4 * 3_600_000)
  })

  it('knows IANA names', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true)
    expect(isTimeZone('Mars/Base')).toBe(false)
  })
})
