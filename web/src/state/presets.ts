// Range presets. A preset ends at the newest reading of the selected users, not at the wall
// clock: data arrives a day at a time (the nightly load takes the last complete day) and a
// study's data may have ended long ago, so "last hour" means the last hour with readings.

export const PRESET_IDS = ['1h', '24h', '7d', '30d', '90d', '1y', 'all'] as const
export type PresetId = (typeof PRESET_IDS)[number]

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

export const PRESETS: Record<PresetId, { label: string; durationMs: number | null }> = {
  '1h': { label: 'Last hour', durationMs: HOUR_MS },
  '24h': { label: 'Last 24 hours', durationMs: DAY_MS },
  '7d': { label: 'Last 7 days', durationMs: 7 * DAY_MS },
  '30d': { label: 'Last 30 days', durationMs: 30 * DAY_MS },
  '90d': { label: 'Last 90 days', durationMs: 90 * DAY_MS },
  '1y': { label: 'Last year', durationMs: 365 * DAY_MS },
  all: { label: 'All data', durationMs: null },
}

export const DEFAULT_PRESET: PresetId = '7d'

export function isPresetId(value: string): value is PresetId {
  return (PRESET_IDS as readonly string[]).includes(value)
}

export interface TimeWindow {
  start: number // epoch ms, inclusive
  end: number // epoch ms, exclusive
}

/** First and newest reading over the selected users (epoch ms), when any has data. */
export type DataExtent = TimeWindow | null

const MINUTE_MS = 60_000

/**
 * The window a preset stands for. It ends at the minute after the newest reading (so that
 * reading's bucket is inside; buckets are [t, t + width)), or at `now` without data; "all"
 * starts at the first reading's minute.
 */
export function resolvePreset(preset: PresetId, extent: DataExtent, now: number): TimeWindow {
  const end = extent ? Math.floor(extent.end / MINUTE_MS) * MINUTE_MS + MINUTE_MS : Math.ceil(now / MINUTE_MS) * MINUTE_MS
  const duration = PRESETS[preset].durationMs
  if (duration !== null) return { start: end - duration, end }
  if (!extent) return { start: end - 7 * DAY_MS, end }
  return { start: Math.floor(extent.start / MINUTE_MS) * MINUTE_MS, end }
}
