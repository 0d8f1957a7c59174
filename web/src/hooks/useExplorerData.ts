import { useMemo } from 'react'
import { client } from '../api/session.ts'
import type { MultiTimeseriesResponse, SummaryResponse, UserDetail } from '../api/types.ts'
import { OVERVIEW_POINTS_PER_PIXEL, POINTS_PER_PIXEL, pointBudget } from '../lib/budget.ts'
import { alignUsers } from '../lib/series.ts'
import { localDate } from '../lib/time.ts'
import type { DataExtent, TimeWindow } from '../state/presets.ts'
import { useQuery, type QueryState } from './useQuery.ts'

/** The current answer of a query, or null while it answers an older key. */
export function current<T>(query: QueryState<T>, key: string | null): T | null {
  return key !== null && query.dataKey === key ? query.data : null
}

function extentOf(details: UserDetail[] | null): DataExtent {
  const firsts = (details ?? []).flatMap((d) => (d.first_reading ? [Date.parse(d.first_reading)] : []))
  const lasts = (details ?? []).flatMap((d) => (d.last_reading ? [Date.parse(d.last_reading)] : []))
  return firsts.length && lasts.length ? { start: Math.min(...firsts), end: Math.max(...lasts) } : null
}

/** The picked users' registry entries (GET /users/{id} each) and the span of their readings. */
export function useUserDetails(selected: string[], attempt: number) {
  const key = selected.length ? `details:${selected.join(',')}#${attempt}` : null
  const query = useQuery(key, (signal) => Promise.all(selected.map((id) => client.user(id, signal))))
  const details = current(query, key)
  const extent = useMemo(() => extentOf(details), [details])
  return { query, details, extent }
}

/** A /multi-user/timeseries request: its query key and the task that asks it. */
function timeseriesRequest(kind: string, userIds: string[], window: TimeWindow, maxPoints: number) {
  return {
    key: `${kind}:${userIds.join(',')}|${window.start}|${window.end}|${maxPoints}`,
    task: (signal: AbortSignal) =>
      client.multiTimeseries({ userIds, start: window.start, end: window.end, maxPoints }, signal),
  }
}

function seriesData(response: MultiTimeseriesResponse | null) {
  return response ? alignUsers(response.data, response.metadata.query_info.interval) : null
}

export interface ChartRequest {
  selected: string[]
  /** The whole range (the overview strip) and the part on the detail chart. */
  range: TimeWindow
  visible: TimeWindow
  /** Plot width in CSS pixels: the point budgets follow it. */
  width: number
  /** The API's max_points limit. */
  maxPoints: number
  /** False until the users, the width and the limits are known: nothing is asked before. */
  ready: boolean
  attempt: number
}

/** The detail chart's and the overview strip's series, each sized to the plot's width. */
export function useChartSeries({ selected, range, visible, width, maxPoints, ready, attempt }: ChartRequest) {
  const users = selected.length
  const detail = timeseriesRequest('ts', selected, visible, pointBudget(width, POINTS_PER_PIXEL, users, maxPoints))
  const seriesKey = ready ? `${detail.key}#${attempt}` : null
  const series = useQuery(seriesKey, detail.task)
  const whole = timeseriesRequest('ov', selected, range, pointBudget(width, OVERVIEW_POINTS_PER_PIXEL, users, maxPoints))
  const overview = useQuery(ready ? `${whole.key}#${attempt}` : null, whole.task)
  const aligned = useMemo(() => seriesData(series.data), [series.data])
  const overviewAligned = useMemo(() => seriesData(overview.data), [overview.data])
  return { series, seriesKey, aligned, overview, overviewAligned }
}

/** Each picked user's daily summaries over the range, in the user's own local days (as /summary counts them). */
export function useDailySummaries(details: UserDetail[] | null, range: TimeWindow, ready: boolean, attempt: number) {
  const days = (details ?? []).map((d) => ({
    userId: d.user_id,
    startDate: localDate(range.start, d.timezone),
    endDate: localDate(range.end - 1, d.timezone),
  }))
  const key = ready ? `sum:${days.map((d) => `${d.userId}/${d.startDate}/${d.endDate}`).join(',')}#${attempt}` : null
  const query = useQuery(key, (signal) => Promise.all(days.map((day) => client.summary(day, signal))))
  const summaries: SummaryResponse[] = query.data ?? []
  return { query, summaries }
}
