// Time zone arithmetic on epoch milliseconds with the browser's IANA data (Intl), no library.

const partsFormatters = new Map<string, Intl.DateTimeFormat>()

function partsFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = partsFormatters.get(timeZone)
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    partsFormatters.set(timeZone, formatter)
  }
  return formatter
}

interface WallClock {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

export function wallClock(ms: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {}
  for (const part of partsFormatter(timeZone).formatToParts(ms)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  return {
    year: parts.year ?? 0,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
  }
}

/** The zone's offset from UTC at instant `ms`, in ms (Berlin in summer: +7,200,000). */
export function offsetMs(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone)
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second)
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000))
}

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0')

/** `YYYY-MM-DD` of instant `ms` on the zone's calendar. */
export function localDate(ms: number, timeZone: string): string {
  const w = wallClock(ms, timeZone)
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`
}

/** The value of an `<input type="datetime-local">` showing instant `ms` in the zone. */
export function toWallInput(ms: number, timeZone: string): string {
  const w = wallClock(ms, timeZone)
  return `${localDate(ms, timeZone)}T${pad(w.hour)}:${pad(w.minute)}`
}

const WALL_INPUT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/

const HALF_DAY_MS = 12 * 3_600_000

/**
 * The instant a wall-clock time (`YYYY-MM-DDTHH:MM[:SS]`) names in the zone, or null if it is
 * not one. A repeated fall-back time is its first occurrence; a time skipped by a spring-forward
 * moves forward by the gap's length (02:30 becomes 03:30), as JavaScript's Date does.
 */
export function fromWallInput(value: string, timeZone: string): number | null {
  const match = WALL_INPUT.exec(value)
  if (!match) return null
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second)
  if (Number.isNaN(asUtc) || new Date(asUtc).getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return null
  }
  // A zone changes its offset at most once in a day: the offsets half a day either side are the
  // only candidates.
  const before = asUtc - offsetMs(asUtc - HALF_DAY_MS, timeZone)
  const after = asUtc - offsetMs(asUtc + HALF_DAY_MS, timeZone)
  const wanted = value.length === 16 ? `${value}:00` : value
  const matches = [before, after].filter((ms) => `${toWallInput(ms, timeZone)}:${pad(wallClock(ms, timeZone).second)}` === wanted)
  return matches.length ? Math.min(...matches) : before
}

/** 'GMT+2' style name of the zone's offset at `ms`. */
export function offsetName(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'shortOffset' }).formatToParts(ms)
  return parts.find((part) => part.type === 'timeZoneName')?.value ?? timeZone
}
