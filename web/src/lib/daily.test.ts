import { describe, expect, it } from 'vitest'
import type { DailySummary } from '../api/types.ts'
import { dailyColumns, dateMs, stackedMinutes, zoneBands } from './daily.ts'

const zones = (fatBurn: number, cardio: number, peak: number, max = 190) => [
  { name: 'Out of Range', min: 30, max: 95, minutes: 1200, calories_out: null },
  { name: 'Fat Burn', min: 95, max: 133, minutes: fatBurn, calories_out: null },
  { name: 'Cardio', min: 133, max: 161, minutes: cardio, calories_out: null },
  { name: 'Peak', min: 161, max, minutes: peak, calories_out: null },
]
const day = (date: string, resting: number | null, z = zones(30, 10, 2)): DailySummary => ({
  date,
  resting_heart_rate: resting,
  zones: z,
  custom_zones: [],
  calories_out: null,
  coverage: 0.9,
  rows_quarantined: 0,
})

describe('daily panel data', () => {
  it('puts the users on one date axis with nulls where a user has no day', () => {
    const columns = dailyColumns([
      { user_id: 'a', timezone: 'Europe/Berlin', data: [day('2025-06-01', 61), day('2025-06-02', null)] },
      { user_id: 'b', timezone: 'America/New_York', data: [day('2025-06-02', 55, zones(5, 0, 0))] },
    ])
    expect(columns.dates).toEqual(['2025-06-01', '2025-06-02'])
    expect(columns.x).toEqual([dateMs('2025-06-01'), dateMs('2025-06-02')])
    expect(columns.resting.get('a')).toEqual([61, null])
    expect(columns.resting.get('b')).toEqual([null, 55])
    expect(columns.minutes.get('b')).toEqual({ 'Fat Burn': [null, 5], Cardio: [null, 0], Peak: [null, 0] })
  })

  it('stacks zone minutes as running totals, top zone first', () => {
    const data = stackedMinutes([1, 2], { 'Fat Burn': [30, null], Cardio: [10, null], Peak: [2, null] })
    expect(data).toEqual([[1, 2], [42, null], [40, null], [30, null]])
  })

  it('draws the latest day’s own zone limits', () => {
    const bands = zoneBands([day('2025-06-01', 60, zones(1, 1, 1, 180)), day('2025-06-02', 60, zones(1, 1, 1, 185))])
    expect(bands.map((b) => [b.name, b.min, b.max])).toEqual([
      ['Fat Burn', 95, 133],
      ['Cardio', 133, 161],
      ['Peak', 161, 185],
    ])
    expect(zoneBands([])).toEqual([])
  })
})
