// The Study page's state in its query string: range, cohort, "flagged only", sort order.
import type { Parsed } from '../hooks/useUrlState.ts'

export const STUDY_RANGES = { '30d': 30, '90d': 90, '1y': 365, '2y': 730 } as const
export type StudyRangeId = keyof typeof STUDY_RANGES
export const DEFAULT_STUDY_RANGE: StudyRangeId = '30d'

export const STUDY_SORTS = ['compliance', 'newest', 'id'] as const
export type StudySort = (typeof STUDY_SORTS)[number]

export interface DayRange {
  start: string // YYYY-MM-DD
  end: string // inclusive
}

export interface StudyView {
  /** A preset ending at the last complete day, or local days from the link. */
  range: { preset: StudyRangeId } | { custom: DayRange }
  /** Only this cohort's participants (null: every participant the key may read). */
  cohort: string | null
  flaggedOnly: boolean
  sort: StudySort
  /** Reverse the sort (compliance highest first, newest reading most recent first, ids Z to A). */
  descending: boolean
}

export const DEFAULT_STUDY_VIEW: StudyView = {
  range: { preset: DEFAULT_STUDY_RANGE },
  cohort: null,
  flaggedOnly: false,
  sort: 'compliance',
  descending: false,
}

// Cohort names as the registry accepts them (hr users update --cohort): 1-64 of a-z 0-9 _ -.
const COHORT = /^[a-z0-9_-]{1,64}$/
const DAY = /^\d{4}-\d{2}-\d{2}$/
const DAY_MS = 86_400_000

/** Whether `value` is a real calendar day written YYYY-MM-DD (not 2026-02-30). */
export function isDay(value: string): boolean {
  const ms = Date.parse(`${value}T00:00:00Z`)
  return DAY.test(value) && !Number.isNaN(ms) && dayOf(ms) === value
}

/** The YYYY-MM-DD of a UTC instant. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** `day` moved by `days` (negative: earlier). */
export function addDays(day: string, days: number): string {
  return dayOf(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS)
}

/** Days from `start` to `end`, both included. */
export function dayCount({ start, end }: DayRange): number {
  return Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / DAY_MS) + 1
}

/** The days a view asks for; a preset ends yesterday (UTC), as the API's default range does. */
export function resolveStudyRange(range: StudyView['range'], today: string): DayRange {
  if ('custom' in range) return range.custom
  const end = addDays(today, -1)
  return { start: addDays(end, 1 - STUDY_RANGES[range.preset]), end }
}

export function parseStudyView(search: string): Parsed<StudyView> {
  const params = new URLSearchParams(search)
  const problems: string[] = []
  const view: StudyView = { ...DEFAULT_STUDY_VIEW }

  const range = params.get('range')
  const start = params.get('start')
  const end = params.get('end')
  if (start !== null || end !== null) {
    if (start !== null && end !== null && isDay(start) && isDay(end) && start <= end) {
      view.range = { custom: { start, end } }
    } else {
      problems.push(`start=${start ?? ''}&end=${end ?? ''}: expected two days such as 2026-01-01, start not after end`)
    }
  } else if (range !== null) {
    if (range in STUDY_RANGES) view.range = { preset: range as StudyRangeId }
    else problems.push(`range=${range}: expected one of ${Object.keys(STUDY_RANGES).join(', ')}`)
  }

  const cohort = params.get('cohort')
  if (cohort !== null) {
    if (COHORT.test(cohort)) view.cohort = cohort
    else problems.push(`cohort=${cohort}: not a cohort name (a-z, 0-9, _ and -)`)
  }

  const flagged = params.get('flagged')
  if (flagged !== null) {
    if (flagged === '1') view.flaggedOnly = true
    else problems.push(`flagged=${flagged}: expected 1`)
  }

  const sort = params.get('sort')
  if (sort !== null) {
    if ((STUDY_SORTS as readonly string[]).includes(sort)) view.sort = sort as StudySort
    else problems.push(`sort=${sort}: expected one of ${STUDY_SORTS.join(', ')}`)
  }

  const order = params.get('order')
  if (order !== null) {
    if (order === 'desc') view.descending = true
    else if (order !== 'asc') problems.push(`order=${order}: expected asc or desc`)
  }
  return { view, problems }
}

/** The query string of a Study view (without '?'), defaults left out, in a fixed order. */
export function serializeStudyView(view: StudyView): string {
  const params = new URLSearchParams()
  if ('custom' in view.range) {
    params.set('start', view.range.custom.start)
    params.set('end', view.range.custom.end)
  } else if (view.range.preset !== DEFAULT_STUDY_RANGE) {
    params.set('range', view.range.preset)
  }
  if (view.cohort) params.set('cohort', view.cohort)
  if (view.flaggedOnly) params.set('flagged', '1')
  if (view.sort !== DEFAULT_STUDY_VIEW.sort) params.set('sort', view.sort)
  if (view.descending) params.set('order', 'desc')
  return params.toString()
}
