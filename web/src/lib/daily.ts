import type uPlot from 'uplot'
import type { DailySummary, SummaryResponse } from '../api/types.ts'

// The zones above "Out of Range" in the Fitbit summary, lowest first; Out of Range (most of a
// day) is left out of bands and stacks so the minutes that matter stay readable.
export const ACTIVE_ZONES = ['Fat Burn', 'Cardio', 'Peak'] as const
export type ActiveZone = (typeof ACTIVE_ZONES)[number]

export const ZONE_COLOURS: Record<ActiveZone, string> = {
  'Fat Burn': '#f1c40f',
  Cardio: '#e67e22',
  Peak: '#c0392b',
}

export interface ZoneBand {
  name: ActiveZone
  min: number
  max: number
  colour: string
}

/** The user's own zone limits, from the latest day in `days` that has them. */
export function zoneBands(days: readonly DailySummary[]): ZoneBand[] {
  for (let i = days.length - 1; i >= 0; i--) {
    const zones = days[i]?.zones ?? []
    const bands: ZoneBand[] = []
    for (const name of ACTIVE_ZONES) {
      const zone = zones.find((z) => z.name === name)
      if (zone && zone.min !== null && zone.max !== null && zone.max > zone.min) {
        bands.push({ name, min: zone.min, max: zone.max, colour: ZONE_COLOURS[name] })
      }
    }
    if (bands.length) return bands
  }
  return []
}

/** A local date as the x value of the daily charts: its midnight in UTC, drawn with UTC labels. */
export function dateMs(date: string): number {
  return Date.parse(`${date}T00:00:00Z`)
}

export interface DailyColumns {
  dates: string[]
  x: number[]
  /** Per user id: resting heart rate per date (null: none that day). */
  resting: Map<string, (number | null)[]>
  /** Per user id and zone: minutes per date (null: no summary that day). */
  minutes: Map<string, Record<ActiveZone, (number | null)[]>>
}

/** The users' daily summaries on one date axis (every date any of them has). */
export function dailyColumns(summaries: readonly SummaryResponse[]): DailyColumns {
  const dates = [...new Set(summaries.flatMap((s) => s.data.map((day) => day.date)))].sort()
  const index = new Map(dates.map((date, i) => [date, i]))
  const resting = new Map<string, (number | null)[]>()
  const minutes = new Map<string, Record<ActiveZone, (number | null)[]>>()
  for (const summary of summaries) {
    const rest: (number | null)[] = dates.map(() => null)
    const zones = Object.fromEntries(ACTIVE_ZONES.map((name) => [name, dates.map(() => null)])) as Record<
      ActiveZone,
      (number | null)[]
    >
    for (const day of summary.data) {
      const i = index.get(day.date) as number
      rest[i] = day.resting_heart_rate
      for (const name of ACTIVE_ZONES) {
        const zone = day.zones.find((z) => z.name === name)
        zones[name][i] = zone?.minutes ?? null
      }
    }
    resting.set(summary.user_id, rest)
    minutes.set(summary.user_id, zones)
  }
  return { dates, x: dates.map(dateMs), resting, minutes }
}

/**
 * Stacked bars as uPlot data: the running totals from the top zone down (Peak's bar is the
 * day's whole height, drawn first; each lower zone's shorter bar is drawn over it).
 */
export function stackedMinutes(x: number[], zones: Record<ActiveZone, (number | null)[]>): uPlot.AlignedData {
  const totals = [...ACTIVE_ZONES].reverse().map((_, depth) =>
    x.map((__, i) => {
      const included = ACTIVE_ZONES.slice(0, ACTIVE_ZONES.length - depth)
      const values = included.map((name) => zones[name][i])
      return values.every((v) => v === null) ? null : values.reduce<number>((sum, v) => sum + (v ?? 0), 0)
    }),
  )
  return [x, ...totals]
}
