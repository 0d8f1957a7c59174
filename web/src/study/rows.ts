// The Study page's rows: the grid joined with the status list, filtered, sorted, totalled and as CSV.
import type { ComplianceParticipant, ComplianceResponse, ParticipantStatus } from '../api/study.ts'
import { cellState, complianceOf, type Compliance } from './cells.ts'
import type { StudySort } from './view.ts'

export interface StudyRow {
  userId: string
  cohort: string | null
  grid: ComplianceParticipant
  /** From /study/participants; null if the list does not have the participant (yet). */
  status: ParticipantStatus | null
  compliance: Compliance
}

export function buildRows(compliance: ComplianceResponse, statuses: ParticipantStatus[]): StudyRow[] {
  const byId = new Map(statuses.map((status) => [status.user_id, status]))
  return compliance.participants.map((grid) => ({
    userId: grid.user_id,
    cohort: grid.cohort,
    grid,
    status: byId.get(grid.user_id) ?? null,
    compliance: complianceOf(grid, compliance.days),
  }))
}

export function isFlagged(row: StudyRow): boolean {
  return (row.status?.flags.length ?? 0) > 0
}

export interface RowFilter {
  /** Only this cohort (null: every cohort, and participants without one). */
  cohort: string | null
  flaggedOnly: boolean
}

/** The rows of a cohort, or the flagged ones: done here, so a change of either asks the API nothing. */
export function filterRows(rows: StudyRow[], { cohort, flaggedOnly }: RowFilter): StudyRow[] {
  if (cohort === null && !flaggedOnly) return rows
  return rows.filter((row) => (cohort === null || row.cohort === cohort) && (!flaggedOnly || isFlagged(row)))
}

/** The cohorts of the rows, by name (for the cohort picker). */
export function cohortsOf(rows: StudyRow[]): string[] {
  return [...new Set(rows.flatMap((row) => (row.cohort ? [row.cohort] : [])))].sort()
}

const byId = (a: StudyRow, b: StudyRow) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)

// Sort keys, ascending: the lowest compliance and the stalest reading first (who needs a call);
// participants without a due day or without any reading count as the worst.
const SORT_KEY: Record<StudySort, (row: StudyRow) => number> = {
  compliance: (row) => row.compliance.share ?? -1,
  newest: (row) => (row.status?.newest_reading ? Date.parse(row.status.newest_reading) : Number.NEGATIVE_INFINITY),
  id: () => 0,
}

/** The rows in the order asked for; ties by id, so the order is the same on every load. */
export function sortRows(rows: StudyRow[], sort: StudySort, descending: boolean): StudyRow[] {
  const key = SORT_KEY[sort]
  const sign = descending ? -1 : 1
  return [...rows].sort((a, b) => sign * (key(a) - key(b) || byId(a, b)))
}

export interface StudyTotals {
  participants: number
  flagged: number
  dueDays: number
  validDays: number
  noDataDays: number
  /** valid / due over the rows shown, null when no day is due. */
  validShare: number | null
}

export function totalsOf(rows: StudyRow[]): StudyTotals {
  const sum = (pick: (c: Compliance) => number) => rows.reduce((total, row) => total + pick(row.compliance), 0)
  const dueDays = sum((c) => c.due)
  const validDays = sum((c) => c.valid)
  return {
    participants: rows.length,
    flagged: rows.filter(isFlagged).length,
    dueDays,
    validDays,
    noDataDays: sum((c) => c.noData),
    validShare: dueDays ? validDays / dueDays : null,
  }
}

export const CSV_HEADER = ['user_id', 'cohort', 'day', 'worn_minutes', 'valid', 'state', 'flags']

function csvCell(value: string | number | boolean | null): string {
  if (value === null) return ''
  const text = String(value)
  return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/** What the page shows as CSV: one line per shown participant x day, in the shown order. */
export function rowsCsv(rows: StudyRow[], days: string[]): string {
  const lines = [CSV_HEADER.join(',')]
  for (const row of rows) {
    const flags = row.status?.flags.join(' ') ?? ''
    days.forEach((day, i) => {
      const cells = [
        row.userId,
        row.cohort,
        day,
        row.grid.worn_minutes[i] ?? null,
        row.grid.valid[i] ?? null,
        cellState(row.grid, i, day),
        flags,
      ]
      lines.push(cells.map(csvCell).join(','))
    })
  }
  return `${lines.join('\n')}\n`
}
