// Response shapes of the hr-pipeline query API (GET /limits, /users, /users/{id},
// /multi-user/timeseries, /summary). Only the fields the dashboard reads are required.

/** What one request may ask for (GET /limits): the API's own numbers, never repeated here. */
export interface Limits {
  max_users: number
  max_points: number
  default_max_points: number
  max_summary_days: number
  max_compliance_days: number
}

/** Resolution of a series: raw readings or an aggregate level. */
export type Resolution = '1s' | '1m' | '1h' | '1d'

export interface UsersResponse {
  users: string[]
  total_count: number
  last_updated: string
}

export interface UserDetail {
  user_id: string
  display_name: string
  timezone: string
  source: string
  start_date: string
  retired: boolean
  retired_at: string | null
  first_reading: string | null
  last_reading: string | null
  days_with_data: number
}

/** One bucket (or one raw reading: min = max = value, count 1). */
export interface TimeseriesPoint {
  timestamp: string
  value: number
  user_id: string
  min: number
  max: number
  count: number
}

export interface QueryInfo {
  table_used: string
  table_description: string
  /** The level the points come from. */
  interval: Resolution
  /** The same level in words: raw, 1 minute, 1 hour, 1 day. */
  resolution: string
  auto: boolean
  point_count: number
  estimated_points: number
  max_points: number
  start: string
  end: string
  users: string[]
}

export interface UserSeries {
  user_id: string
  data: TimeseriesPoint[]
  count: number
}

export interface MultiTimeseriesResponse {
  data: UserSeries[]
  metadata: { query_info: QueryInfo }
}

export interface ZoneMinutes {
  name: string
  min: number | null
  max: number | null
  minutes: number | null
  calories_out: number | null
}

export interface DailySummary {
  date: string
  resting_heart_rate: number | null
  zones: ZoneMinutes[]
  custom_zones: ZoneMinutes[]
  calories_out: number | null
  coverage: number | null
  rows_quarantined: number
}

export interface SummaryResponse {
  user_id: string
  timezone: string
  data: DailySummary[]
}
