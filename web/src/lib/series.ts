import uPlot from 'uplot'
import type { Resolution, TimeseriesPoint, UserSeries } from '../api/types.ts'

/** Width of one point at each resolution, in ms (a raw reading stands for its second). */
export const RESOLUTION_MS: Record<Resolution, number> = {
  '1s': 1_000,
  '1m': 60_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
}

export const RESOLUTION_LABEL: Record<Resolution, string> = {
  '1s': 'raw readings',
  '1m': '1 minute',
  '1h': '1 hour',
  '1d': '1 day',
}

// Watches sample every 1-15 s while worn (Fitbit's intraday series, the simulator): a longer
// silence between raw readings is the watch being off the wrist.
export const RAW_GAP_MS = 60_000
// Buckets are contiguous, so a missing bucket is a gap; 1.5 widths rather than 1 so that a local
// day of 23 or 25 hours (daylight saving) is no gap at 1d.
const BUCKET_GAP_WIDTHS = 1.5

export function gapThresholdMs(resolution: Resolution): number {
  return resolution === '1s' ? RAW_GAP_MS : RESOLUTION_MS[resolution] * BUCKET_GAP_WIDTHS
}

/** Indices i such that points i and i + 1 are further apart than `thresholdMs`. */
export function findGaps(times: readonly number[], thresholdMs: number): number[] {
  const gaps: number[] = []
  for (let i = 0; i + 1 < times.length; i++) {
    if ((times[i + 1] as number) - (times[i] as number) > thresholdMs) gaps.push(i)
  }
  return gaps
}

/** One user's points as columns for the chart: x, average, min, max; null marks a gap. */
export interface UserColumns {
  times: number[]
  avg: (number | null)[]
  min: (number | null)[]
  max: (number | null)[]
}

export function toColumns(points: readonly TimeseriesPoint[], resolution: Resolution): UserColumns {
  const columns: UserColumns = { times: [], avg: [], min: [], max: [] }
  const threshold = gapThresholdMs(resolution)
  let previous: number | null = null
  for (const point of points) {
    const time = Date.parse(point.timestamp)
    if (previous !== null && time - previous > threshold) {
      // A null between the two points breaks the line and the band there (uPlot: null is a gap).
      columns.times.push(Math.round((previous + time) / 2))
      columns.avg.push(null)
      columns.min.push(null)
      columns.max.push(null)
    }
    columns.times.push(time)
    columns.avg.push(point.value)
    columns.min.push(point.min)
    columns.max.push(point.max)
    previous = time
  }
  return columns
}

/**
 * uPlot's data for several users: one shared, ascending x column, then average, min and max
 * per user, in the order given. A user has `undefined` at the other users' timestamps, which
 * uPlot draws across (alignment), and `null` at its own gaps, which it leaves open.
 */
export function alignUsers(series: readonly UserSeries[], resolution: Resolution): uPlot.AlignedData {
  const tables = series.map((entry) => {
    const c = toColumns(entry.data, resolution)
    return [c.times, c.avg, c.min, c.max] as uPlot.AlignedData
  })
  if (tables.length === 0) return [[]]
  return uPlot.join(tables)
}
