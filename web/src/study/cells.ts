// What each cell of the Study heatmap means and its colour: hours worn, valid days in a hue of
// their own, days without data apart from days not (yet) due.
import type { ComplianceParticipant } from '../api/study.ts'

/**
 * valid: a load record with at least the valid-day minutes; invalid: a record with fewer (0
 * included: loaded, nothing worn); no_data: a due day without a load record; not_due: before the
 * participant's start date, after the newest complete local day (or retirement).
 */
export type CellState = 'valid' | 'invalid' | 'no_data' | 'not_due'

export type Rgb = readonly [number, number, number]

// The longest a local day can be worn: 25 h on the day clocks go back (the API's worn minutes go to 1,500).
const LONGEST_DAY_MINUTES = 1500

/** The colours, named for the legend and the docs (docs/dashboard.md). */
export const CELL_COLOURS = {
  notDue: [238, 241, 245],
  noData: [124, 135, 153],
  // Fewer minutes than the rule: pale (nothing worn) to deep amber (just short of valid).
  invalidFrom: [253, 236, 206],
  invalidTo: [222, 134, 35],
  // At least the rule: light green (just valid) to dark green (worn all day).
  validFrom: [134, 206, 160],
  validTo: [20, 110, 62],
} as const satisfies Record<string, Rgb>

export function cellState(participant: ComplianceParticipant, index: number, day: string): CellState {
  const { first_due_day: first, last_due_day: last } = participant
  const worn = participant.worn_minutes[index] ?? null
  if (worn !== null) return participant.valid[index] ? 'valid' : 'invalid'
  if (last === null || day > last || (first !== null && day < first)) return 'not_due'
  return 'no_data'
}

function mix(from: Rgb, to: Rgb, share: number): Rgb {
  const t = Math.min(1, Math.max(0, share))
  return [0, 1, 2].map((i) => Math.round(from[i]! + (to[i]! - from[i]!) * t)) as unknown as Rgb
}

/** A cell's colour: its state, and within valid and invalid days the minutes worn. */
export function cellColour(state: CellState, wornMinutes: number | null, validDayMinutes: number): Rgb {
  const worn = wornMinutes ?? 0
  switch (state) {
    case 'not_due':
      return CELL_COLOURS.notDue
    case 'no_data':
      return CELL_COLOURS.noData
    case 'invalid':
      return mix(CELL_COLOURS.invalidFrom, CELL_COLOURS.invalidTo, worn / Math.max(validDayMinutes, 1))
    case 'valid':
      return mix(
        CELL_COLOURS.validFrom,
        CELL_COLOURS.validTo,
        (worn - validDayMinutes) / Math.max(LONGEST_DAY_MINUTES - validDayMinutes, 1),
      )
  }
}

export function cssColour([r, g, b]: Rgb): string {
  return `rgb(${r}, ${g}, ${b})`
}

/** A participant's days of the range by state, and the share of due days that were valid (null: none due). */
export interface Compliance {
  valid: number
  invalid: number
  noData: number
  due: number
  share: number | null
}

export function complianceOf(participant: ComplianceParticipant, days: string[]): Compliance {
  const counts = { valid: 0, invalid: 0, no_data: 0, not_due: 0 }
  days.forEach((day, i) => {
    counts[cellState(participant, i, day)] += 1
  })
  const due = counts.valid + counts.invalid + counts.no_data
  return {
    valid: counts.valid,
    invalid: counts.invalid,
    noData: counts.no_data,
    due,
    share: due ? counts.valid / due : null,
  }
}

/** A participant's row of the heatmap as RGBA pixels, one per day: computed once, copied on every redraw. */
export function rowPixels(participant: ComplianceParticipant, days: string[], validDayMinutes: number): Uint8ClampedArray {
  const pixels = new Uint8ClampedArray(days.length * 4)
  days.forEach((day, d) => {
    const [red, green, blue] = cellColour(cellState(participant, d, day), participant.worn_minutes[d] ?? null, validDayMinutes)
    pixels.set([red, green, blue, 255], d * 4)
  })
  return pixels
}
