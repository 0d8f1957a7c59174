import { client } from '../api/session.ts'
import { useQuery } from './useQuery.ts'

/**
 * The Study page's two requests, side by side: the grid for the days asked for and the status list.
 * Both cover every participant the key may read; the page filters by cohort itself, so picking a
 * cohort asks nothing. `days` null: nothing to ask (a range the API would refuse).
 */
export function useStudyData(days: { start: string; end: string } | null, attempt: number) {
  const gridKey = days ? `grid:${days.start}/${days.end}#${attempt}` : null
  const grid = useQuery(gridKey, (signal) =>
    days ? client.compliance(days, signal) : Promise.reject(new Error('no range')),
  )
  const statuses = useQuery(`status#${attempt}`, (signal) => client.participants(signal))
  return { grid, gridKey, statuses }
}
