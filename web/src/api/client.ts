import type { ComplianceResponse, ParticipantsResponse } from './study.ts'
import type { Limits, MultiTimeseriesResponse, SummaryResponse, UserDetail, UsersResponse } from './types.ts'

/** An answer other than 2xx, or no answer at all (status 0), with the message to show. */
export class ApiError extends Error {
  readonly status: number
  readonly detail: string

  constructor(status: number, detail: string) {
    super(status ? `${status}: ${detail}` : detail)
    this.name = 'ApiError'
    this.status = status
    this.detail = detail
  }
}

/** What to show for a failed request: the API's own detail, or the error as text. */
export function errorMessage(error: unknown): string {
  return error instanceof ApiError ? error.detail : String(error)
}

export interface TimeseriesQuery {
  userIds: string[]
  start: number // epoch ms
  end: number
  maxPoints: number
}

export interface SummaryQuery {
  userId: string
  startDate: string // YYYY-MM-DD, the user's local dates
  endDate: string
}

export interface StudyQuery {
  start: string // YYYY-MM-DD, local days
  end: string // inclusive
}

export interface ApiClient {
  limits(signal?: AbortSignal): Promise<Limits>
  compliance(query: StudyQuery, signal?: AbortSignal): Promise<ComplianceResponse>
  participants(signal?: AbortSignal): Promise<ParticipantsResponse>
  users(signal?: AbortSignal): Promise<UsersResponse>
  user(userId: string, signal?: AbortSignal): Promise<UserDetail>
  multiTimeseries(query: TimeseriesQuery, signal?: AbortSignal): Promise<MultiTimeseriesResponse>
  summary(query: SummaryQuery, signal?: AbortSignal): Promise<SummaryResponse>
}

export interface ClientOptions {
  /** Origin and path prefix of the API; '' is the page's own origin. */
  baseUrl?: string
  /** The bearer key to send, if any (read on every request so a new key applies at once). */
  key?: () => string | null
  fetch?: typeof fetch
}

/** The API's `{"detail": ...}` as one line (FastAPI's own validation errors give a list). */
export function detailOf(body: unknown, fallback: string): string {
  if (typeof body !== 'object' || body === null || !('detail' in body)) return fallback
  const detail = (body as { detail: unknown }).detail
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail)) {
    return detail
      .map((item: unknown) => {
        if (typeof item !== 'object' || item === null) return String(item)
        const { loc, msg } = item as { loc?: unknown; msg?: unknown }
        const where = Array.isArray(loc) ? loc.filter((part) => part !== 'query').join('.') : ''
        return where ? `${where}: ${String(msg)}` : String(msg)
      })
      .join('; ')
  }
  return fallback
}

export function createClient(options: ClientOptions = {}): ApiClient {
  const baseUrl = options.baseUrl ?? ''
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis)

  async function get<T>(path: string, params: Record<string, string>, signal?: AbortSignal): Promise<T> {
    const query = new URLSearchParams(params).toString()
    const url = `${baseUrl}${path}${query ? `?${query}` : ''}`
    const headers: Record<string, string> = { Accept: 'application/json' }
    const key = options.key?.()
    if (key) headers.Authorization = `Bearer ${key}`
    let response: Response
    try {
      response = await doFetch(url, { headers, ...(signal ? { signal } : {}) })
    } catch (error) {
      if (signal?.aborted) throw error
      const reason = error instanceof Error ? error.message : String(error)
      throw new ApiError(0, `The API did not answer (${reason}): is it running?`)
    }
    if (!response.ok) {
      const body: unknown = await response.json().catch(() => null)
      throw new ApiError(response.status, detailOf(body, response.statusText || 'request failed'))
    }
    return (await response.json()) as T
  }

  const iso = (ms: number) => new Date(ms).toISOString()

  return {
    limits: (signal) => get('/limits', {}, signal),
    compliance: (query, signal) => get('/study/compliance', { start: query.start, end: query.end }, signal),
    participants: (signal) => get('/study/participants', {}, signal),
    users: (signal) => get('/users', {}, signal),
    user: (userId, signal) => get(`/users/${encodeURIComponent(userId)}`, {}, signal),
    multiTimeseries: (query, signal) =>
      get(
        '/multi-user/timeseries',
        {
          user_ids: query.userIds.join(','),
          start_date: iso(query.start),
          end_date: iso(query.end),
          max_points: String(query.maxPoints),
        },
        signal,
      ),
    summary: (query, signal) =>
      get('/summary', { user_id: query.userId, start_date: query.startDate, end_date: query.endDate }, signal),
  }
}
