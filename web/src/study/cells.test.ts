import { describe, expect, it } from 'vitest'
import type { ComplianceParticipant } from '../api/study.ts'
import { CELL_COLOURS, cellColour, cellState, complianceOf, dueSpan, rowPixels } from './cells.ts'

const DAYS = ['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04', '2026-01-05', '2026-01-06']

const participant: ComplianceParticipant = {
  user_id: 'p001',
  cohort: 'site-a',
  first_due_day: '2026-01-02', // 01-01: before the start date
  last_due_day: '2026-01-05', // 01-06: not yet complete in the participant's zone
  worn_minutes: [null, 612, null, 0, 599, null],
  valid: [null, true, null, false, false, null],
}

describe('heatmap cells', () => {
  it('tells valid, invalid, no data and not due apart', () => {
    expect(DAYS.map((day, i) => cellState(participant, i, day))).toEqual([
      'not_due',
      'valid',
      'no_data',
      'invalid', // loaded, nothing worn: a record, not missing data
      'invalid',
      'not_due',
    ])
  })

  it('counts no day as due for a participant retired before the range', () => {
    const retired = { ...participant, last_due_day: null, worn_minutes: DAYS.map(() => null), valid: DAYS.map(() => null) }
    expect(DAYS.map((day, i) => cellState(retired, i, day))).toEqual(DAYS.map(() => 'not_due'))
    expect(complianceOf(retired, DAYS)).toEqual({ valid: 0, invalid: 0, noData: 0, due: 0, share: null })
  })

  it('shows a record even outside the due days (a late load is data)', () => {
    const late = { ...participant, worn_minutes: [700, ...participant.worn_minutes.slice(1)], valid: [true, ...participant.valid.slice(1)] }
    expect(cellState(late, 0, DAYS[0]!)).toBe('valid')
  })

  it('colours by hours worn within each state, valid days in their own hue', () => {
    expect(cellColour('not_due', null, 600)).toEqual(CELL_COLOURS.notDue)
    expect(cellColour('no_data', null, 600)).toEqual(CELL_COLOURS.noData)
    expect(cellColour('invalid', 0, 600)).toEqual(CELL_COLOURS.invalidFrom)
    expect(cellColour('valid', 600, 600)).toEqual(CELL_COLOURS.validFrom)
    expect(cellColour('valid', 1500, 600)).toEqual(CELL_COLOURS.validTo)
    // More minutes, darker: within invalid days and within valid days.
    const lightness = (rgb: readonly number[]) => rgb.reduce((a, b) => a + b, 0)
    expect(lightness(cellColour('invalid', 500, 600))).toBeLessThan(lightness(cellColour('invalid', 100, 600)))
    expect(lightness(cellColour('valid', 1400, 600))).toBeLessThan(lightness(cellColour('valid', 700, 600)))
    // Valid greens have more green than red; invalid ambers more red than green.
    for (const worn of [600, 900, 1440]) {
      const [r, g] = cellColour('valid', worn, 600)
      expect(g).toBeGreaterThan(r)
    }
    for (const worn of [0, 300, 599]) {
      const [r, g] = cellColour('invalid', worn, 600)
      expect(r).toBeGreaterThan(g)
    }
  })

  it('follows the study’s rule, not a fixed 600', () => {
    expect(cellColour('invalid', 400, 480)).not.toEqual(cellColour('invalid', 400, 600))
  })

  it('counts a participant’s compliance over the due days only', () => {
    expect(complianceOf(participant, DAYS)).toEqual({ valid: 1, invalid: 2, noData: 1, due: 4, share: 0.25 })
  })

  it('paints a row as one opaque pixel per day, in the cells’ colours', () => {
    const pixels = rowPixels(participant, DAYS, 600)
    expect(pixels).toHaveLength(DAYS.length * 4)
    DAYS.forEach((day, i) => {
      const colour = cellColour(cellState(participant, i, day), participant.worn_minutes[i] ?? null, 600)
      expect([...pixels.slice(i * 4, i * 4 + 4)]).toEqual([...colour, 255])
    })
  })

  it('finds the due days of a row by index', () => {
    expect(dueSpan(participant, DAYS)).toEqual([1, 4])
    expect(dueSpan({ ...participant, first_due_day: '2025-12-01' }, DAYS)).toEqual([0, 4])
    expect(dueSpan({ ...participant, first_due_day: '2026-02-01' }, DAYS)).toEqual([6, 4]) // starts after the range
    expect(dueSpan({ ...participant, last_due_day: '2025-12-31' }, DAYS)).toEqual([1, -1]) // ended before it
    expect(dueSpan({ ...participant, last_due_day: null }, DAYS)).toEqual([0, -1])
  })
})
