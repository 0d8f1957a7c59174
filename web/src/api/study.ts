// Response shapes of the study routes the dashboard reads (GET /study/compliance, /study/participants).

export type Flag = 'no_valid_day' | 'no_data' | 'needs_reconnect'

export interface ComplianceParticipant {
  user_id: string
  cohort: string | null
  /** The participant's start date: days before it are not due. */
  first_due_day: string | null
  /** Newest complete local day in the participant's zone: later days are not yet due. */
  last_due_day: string | null
  /** Per day of `days`; null: no load record for that day. */
  worn_minutes: (number | null)[]
  valid: (boolean | null)[]
}

export interface ComplianceResponse {
  start: string
  end: string
  valid_day_minutes: number
  days: string[]
  participants: ComplianceParticipant[]
}

export interface ParticipantStatus {
  user_id: string
  cohort: string | null
  source: string
  timezone: string
  retired: boolean
  connection: string
  connection_since: string | null
  newest_reading: string | null
  days_since_reading: number | null
  valid_days_7: number
  valid_days_30: number
  valid_days_total: number
  flags: Flag[]
}

export interface ParticipantsResponse {
  as_of: string
  valid_day_minutes: number
  flag_no_valid_day_days: number
  flag_no_data_days: number
  participants: ParticipantStatus[]
}
