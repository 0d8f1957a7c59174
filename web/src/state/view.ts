import { DEFAULT_PRESET, isPresetId, type PresetId, type TimeWindow } from './presets.ts'

/**
 * Everything a link has to carry to reproduce what is on screen. Absent means "the default":
 * no users = the first user of /users, no time zone = the first selected user's zone, no
 * zones = the first selected user's heart-rate zones.
 */
export interface ViewState {
  users: string[]
  range: { preset: PresetId } | { custom: TimeWindow }
  zoom: TimeWindow | null
  timeZone: string | null
  /** User whose heart-rate zones are drawn, 'off' for none, null for the first user's. */
  zones: string | null
}

export const ZONES_OFF = 'off'

export const DEFAULT_VIEW: ViewState = {
  users: [],
  range: { preset: DEFAULT_PRESET },
  zoom: null,
  timeZone: null,
  zones: null,
}

// User ids as the registry accepts them (hr users add): 1-64 of a-z 0-9 _ -.
export const USER_ID = /^[a-z0-9_-]{1,64}$/

/** `2025-06-01T10:00:00Z`: second precision is the finest the API stores. */
export function formatInstant(ms: number): string {
  return new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

function parseInstant(value: string): number | null {
  // Only full ISO 8601 datetimes with a zone: a link means the same instant everywhere.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return null
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? null : ms
}

function parseWindow(
  params: URLSearchParams,
  startName: string,
  endName: string,
  problems: string[],
): TimeWindow | null {
  const rawStart = params.get(startName)
  const rawEnd = params.get(endName)
  if (rawStart === null && rawEnd === null) return null
  const start = rawStart === null ? null : parseInstant(rawStart)
  const end = rawEnd === null ? null : parseInstant(rawEnd)
  if (start === null || end === null) {
    const bad = start === null ? `${startName}=${rawStart ?? ''}` : `${endName}=${rawEnd ?? ''}`
    problems.push(`${bad}: expected an ISO 8601 date-time such as 2025-06-01T10:00:00Z (both ${startName} and ${endName})`)
    return null
  }
  if (end <= start) {
    problems.push(`${endName}: must be after ${startName}`)
    return null
  }
  return { start, end }
}

export interface ParsedView {
  view: ViewState
  /** What in the link was not understood and ignored, one line each. */
  problems: string[]
}

export function parseView(search: string, isTimeZone: (name: string) => boolean): ParsedView {
  const params = new URLSearchParams(search)
  const problems: string[] = []
  const view: ViewState = { ...DEFAULT_VIEW }

  const users = params.get('users')
  if (users) {
    const ids = [...new Set(users.split(',').filter(Boolean))]
    const bad = ids.filter((id) => !USER_ID.test(id))
    if (bad.length) problems.push(`users: ${bad.join(', ')} is not a user id (a-z, 0-9, _ and -)`)
    view.users = ids.filter((id) => USER_ID.test(id))
  }

  const range = params.get('range')
  if (range === 'custom') {
    const custom = parseWindow(params, 'start', 'end', problems)
    if (custom) view.range = { custom }
  } else if (range !== null) {
    if (isPresetId(range)) view.range = { preset: range }
    else problems.push(`range=${range}: expected custom or one of 1h, 24h, 7d, 30d, 90d, 1y, all`)
  }

  view.zoom = parseWindow(params, 'from', 'to', problems)

  const tz = params.get('tz')
  if (tz !== null) {
    if (isTimeZone(tz)) view.timeZone = tz
    else problems.push(`tz=${tz}: not a time zone (expected an IANA name such as Europe/Berlin)`)
  }

  const zones = params.get('zones')
  if (zones !== null) {
    if (zones === ZONES_OFF || USER_ID.test(zones)) view.zones = zones
    else problems.push(`zones=${zones}: expected a user id or off`)
  }
  return { view, problems }
}

/**
 * The users of a view within the API's limit (`maxUsers`, from GET /limits): the first ones of the
 * link, and what was left out as a problem to show.
 */
export function limitUsers(users: string[], maxUsers: number): { users: string[]; problem: string | null } {
  if (users.length <= maxUsers) return { users, problem: null }
  return { users: users.slice(0, maxUsers), problem: `users: at most ${maxUsers} at once` }
}

/** The query string of a view (without '?'), defaults left out, in a fixed order. */
export function serializeView(view: ViewState): string {
  const params = new URLSearchParams()
  if (view.users.length) params.set('users', view.users.join(','))
  if ('custom' in view.range) {
    params.set('range', 'custom')
    params.set('start', formatInstant(view.range.custom.start))
    params.set('end', formatInstant(view.range.custom.end))
  } else if (view.range.preset !== DEFAULT_PRESET) {
    params.set('range', view.range.preset)
  }
  if (view.zoom) {
    params.set('from', formatInstant(view.zoom.start))
    params.set('to', formatInstant(view.zoom.end))
  }
  if (view.timeZone) params.set('tz', view.timeZone)
  if (view.zones) params.set('zones', view.zones)
  // Commas and slashes are legal in a query; keeping them makes links readable.
  return params.toString().replaceAll('%2C', ',').replaceAll('%2F', '/').replaceAll('%3A', ':')
}
