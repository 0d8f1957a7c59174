import type { Resolution } from '../api/types.ts'

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${timeZone}|${JSON.stringify(options)}`
  let found = formatters.get(key)
  if (!found) {
    found = new Intl.DateTimeFormat('en-GB', { timeZone, ...options })
    formatters.set(key, found)
  }
  return found
}

const DATE: Intl.DateTimeFormatOptions = { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }
const TIME_PRECISION: Record<Resolution, Intl.DateTimeFormatOptions> = {
  '1s': { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
  '1m': { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  '1h': { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
  '1d': {},
}

/** A point's time as precise as its resolution: "Sun, 1 Jun 2025, 14:05:07" for a raw reading. */
export function formatTime(ms: number, timeZone: string, resolution: Resolution): string {
  return formatter(timeZone, { ...DATE, ...TIME_PRECISION[resolution] }).format(ms)
}

/** A range's ends, shorter: "1 Jun 2025, 14:05". */
export function formatInstantShort(ms: number, timeZone: string): string {
  return formatter(timeZone, { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms)
}

const integer = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 0 })
const oneDecimal = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 })

export function formatCount(n: number): string {
  return integer.format(n)
}

export interface PointValues {
  avg: number | null | undefined
  min: number | null | undefined
  max: number | null | undefined
}

/**
 * A point for the legend: "72 bpm" for a raw reading, "72.5 bpm (60–88)" for a bucket (average
 * and its min–max band), "–" where the user has no reading.
 */
export function formatPoint(point: PointValues, resolution: Resolution): string {
  if (point.avg === null || point.avg === undefined) return '–'
  if (resolution === '1s') return `${integer.format(point.avg)} bpm`
  const band =
    point.min !== null && point.min !== undefined && point.max !== null && point.max !== undefined
      ? ` (${integer.format(point.min)}–${integer.format(point.max)})`
      : ''
  return `${oneDecimal.format(point.avg)} bpm${band}`
}

/** A window's width in words: "45 s", "12 min", "3 h 20 min", "7 days". */
export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000)
  if (seconds < 120) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  if (minutes < 120) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`
  const days = Math.round(hours / 24)
  return `${days} days`
}

const MINUTE_MS = 60_000
const DAY_MS = 86_400_000

/**
 * A time axis tick in the zone, for ticks `incrementMs` apart: "1 Jun" for days, "14:05" for
 * minutes and hours, "14:05:07" below; with the date on a second line where asked (the first
 * tick, a new day).
 */
export function axisLabel(ms: number, incrementMs: number, timeZone: string, withDate: boolean): string {
  const date = formatter(timeZone, { day: 'numeric', month: 'short' }).format(ms)
  if (incrementMs >= DAY_MS) return date
  const precision = incrementMs >= MINUTE_MS ? TIME_PRECISION['1m'] : TIME_PRECISION['1s']
  const time = formatter(timeZone, precision).format(ms)
  return withDate ? `${time}\n${date}` : time
}
