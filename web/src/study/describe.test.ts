import { describe, expect, it } from 'vitest'
import type { ComplianceResponse } from '../api/study.ts'
import { describeCell, flagLabel, formatShare, formatWorn } from './describe.ts'
import { buildRows } from './rows.ts'

const DAYS = ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04', '2026-01-05']
const grid: ComplianceResponse = {
  start: DAYS[0]!,
  end: DAYS[4]!,
  valid_day_minutes: 600,
  days: DAYS,
  participants: [
    {
      user_id: 'p1',
      cohort: null,
      first_due_day: '2026-01-02',
      last_due_day: '2026-01-04',
      worn_minutes: [null, 612, 45, null, null],
      valid: [null, true, false, null, null],
    },
  ],
}
const [row] = buildRows(grid, [])

describe('Study words', () => {
  it('gives a cell’s figures and meaning', () => {
    expect(DAYS.map((day, i) => describeCell(row!, i, day, 600))).toEqual([
      'Not due: before the start date (2026-01-02)',
      '10 h 12 min worn (612 min): valid',
      '45 min worn (45 min): not valid (under 600 min)',
      'No data: the day is due and nothing was loaded',
      'Not due yet: the day is not complete',
    ])
  })

  it('writes minutes, shares and flags', () => {
    expect([formatWorn(0), formatWorn(60), formatWorn(1439)]).toEqual(['0 min', '1 h', '23 h 59 min'])
    expect([formatShare(null), formatShare(0.625)]).toEqual(['–', '63%'])
    const days = { noValidDay: 3, noData: 4 }
    expect(flagLabel('no_valid_day', days)).toBe('no valid day in 3 d')
    expect(flagLabel('no_data', days)).toBe('no data in 4 d')
    expect(flagLabel('needs_reconnect', days)).toBe('needs reconnect')
  })
})
