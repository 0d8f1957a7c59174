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

/** The indices of `days` that are due for the participant, [first, last] inclusive (first > last: none). */
export function dueSpan(participant: ComplianceParticipant, days: string[]): [number, number] {
  const { first_due_day: first, last_due_day: last } = participant
  if (last === null) return [0, -1]
  const from = first === null ? 0 : days.findIndex((day) => day >= first)
  let to = days.length - 1
  while (to >= 0 && days[to]! > last) to -= 1
  return [from === -1 ? days.length : from, to]
}

/** A cell's state, given the row's due span (dueSpan): no string comparison per cell. */
function stateAt(participant: ComplianceParticipant, index: number, [from, to]: [number, number]): CellState {
  const worn = participant.worn_minutes[index] ?? null
  if (worn !== null) return participant.valid[index] ? 'valid' : 'invalid'
  return index >= from && index <= to ? 'no_data' : 'not_due'
}

export function cellState(participant: ComplianceParticipant, index: number, day: string): CellState {
  const { first_due_day: first, last_due_day: last } = participant
  const due = last !== null && day <= last && (first === null || day >= first)
  return stateAt(participant, index, due ? [index, index] : [0, -1])
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
  const span = dueSpan(participant, days)
  for (let i = 0; i < days.length; i += 1) counts[stateAt(participant, i, span)] += 1
  const due = counts.valid + counts.invalid + counts.no_data
  return {
    valid: counts.valid,
    invalid: counts.invalid,
    noData: counts.no_data,
    due,
    share: due ? counts.valid / due : null,
  }
}

// Colour tables by valid-day rule (one rule per API, so one table in practice).
const colourTables = new Map<number, Record<CellState, Uint32Array>>()

/**
 * Every colour a cell can have under the rule, by state and worn minutes, each RGBA pixel as one
 * 32-bit word (the platform's byte order, as the ImageData it is copied into): a cell is one lookup.
 */
function colourTable(validDayMinutes: number): Record<CellState, Uint32Array> {
  const table = (state: CellState) => {
    const colours = new Uint8ClampedArray((LONGEST_DAY_MINUTES + 1) * 4)
    for (let worn = 0; worn <= LONGEST_DAY_MINUTES; worn += 1) {
      colours.set([...cellColour(state, worn, validDayMinutes), 255], worn * 4)
    }
    return new Uint32Array(colours.buffer)
  }
  return { valid: table('valid'), invalid: table('invalid'), no_data: table('no_data'), not_due: table('not_due') }
}

/** A participant's row of the heatmap as RGBA pixels, one per day: computed once, copied on every redraw. */
export function rowPixels(participant: ComplianceParticipant, days: string[], validDayMinutes: number): Uint8ClampedArray {
  const table = colourTables.get(validDayMinutes) ?? colourTable(validDayMinutes)
  colourTables.set(validDayMinutes, table)
  const span = dueSpan(participant, days)
  const pixels = new Uint32Array(days.length)
  for (let d = 0; d < days.length; d += 1) {
    const worn = Math.min(Math.max(participant.worn_minutes[d] ?? 0, 0), LONGEST_DAY_MINUTES)
    pixels[d] = table[stateAt(participant, d, span)][worn]!
  }
  return new Uint8ClampedArray(pixels.buffer)
}
