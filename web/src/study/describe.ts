// The Study page's words: a cell's figures for the tooltip, a flag's label, a share as a percentage.
import type { Flag } from '../api/study.ts'
import { cellState } from './cells.ts'
import type { StudyRow } from './rows.ts'

/** Minutes as "10 h 12 min", "45 min", "0 min". */
export function formatWorn(minutes: number): string {
  const hours = Math.floor(minutes / 60)
  const rest = minutes % 60
  if (hours === 0) return `${rest} min`
  return rest ? `${hours} h ${rest} min` : `${hours} h`
}

export function formatShare(share: number | null): string {
  return share === null ? '–' : `${Math.round(share * 100)}%`
}

/** What a cell says when hovered or tapped: the figures of the day and what they mean. */
export function describeCell(row: StudyRow, dayIndex: number, day: string, validDayMinutes: number): string {
  const worn = row.grid.worn_minutes[dayIndex] ?? null
  switch (cellState(row.grid, dayIndex, day)) {
    case 'valid':
      return `${formatWorn(worn ?? 0)} worn (${worn} min): valid`
    case 'invalid':
      return `${formatWorn(worn ?? 0)} worn (${worn} min): not valid (under ${validDayMinutes} min)`
    case 'no_data':
      return 'No data: the day is due and nothing was loaded'
    case 'not_due': {
      const first = row.grid.first_due_day
      if (first !== null && day < first) return `Not due: before the start date (${first})`
      return row.grid.last_due_day === null ? 'Not due: no day was ever due' : 'Not due yet: the day is not complete'
    }
  }
}

/** A flag as its badge says it (the N days are in flagLabel, the badge's title). */
export const FLAG_BADGE: Record<Flag, string> = {
  no_valid_day: 'no valid day',
  no_data: 'no data',
  needs_reconnect: 'reconnect',
}

/** A flag in a few words, with the study's N days. */
export function flagLabel(flag: Flag, days: { noValidDay: number; noData: number }): string {
  switch (flag) {
    case 'no_valid_day':
      return `no valid day in ${days.noValidDay} d`
    case 'no_data':
      return `no data in ${days.noData} d`
    case 'needs_reconnect':
      return 'needs reconnect'
  }
}
