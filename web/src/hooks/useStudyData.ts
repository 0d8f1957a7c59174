import { client } from '../api/session.ts'
import { useQuery } from './useQuery.ts'

/**
 * The Study page's three requests: the grid for the days and cohort asked for, the status list of
 * the cohort, and the cohort lines (for the cohort picker). `days` null: nothing to ask (a range
 * the API would refuse).
 */
export function useStudyData(days: { start: string; end: string } | null, cohort: string | null, attempt: number) {
  const gridKey = days ? `grid:${days.start}/${days.end}/${cohort ?? ''}#${attempt}` : null
  const grid = useQuery(gridKey, (signal) =>
    days ? client.compliance({ ...days, cohort }, signal) : Promise.reject(new Error('no range')),
  )
  const statusKey = `status:${cohort ?? ''}#${attempt}`
  const statuses = useQuery(statusKey, (signal) => client.participants(cohort, signal))
  const cohorts = useQuery(`cohorts#${attempt}`, (signal) => client.cohorts(signal))
  return { grid, gridKey, statuses, statusKey, cohorts }
}
