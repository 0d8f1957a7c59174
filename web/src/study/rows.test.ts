import { describe, expect, it } from 'vitest'
import type { ComplianceParticipant, ComplianceResponse, Flag, ParticipantStatus } from '../api/study.ts'
import { CSV_HEADER, buildRows, cohortsOf, filterRows, rowsCsv, sortRows, totalsOf } from './rows.ts'

const DAYS = ['2026-01-01', '2026-01-02', '2026-01-03']

function grid(user_id: string, worn: (number | null)[], cohort: string | null = 'site-a'): ComplianceParticipant {
  return {
    user_id,
    cohort,
    first_due_day: '2026-01-01',
    last_due_day: '2026-01-03',
    worn_minutes: worn,
    valid: worn.map((w) => (w === null ? null : w >= 600)),
  }
}

function status(user_id: string, newest: string | null, flags: Flag[] = []): ParticipantStatus {
  return {
    user_id,
    cohort: 'site-a',
    source: 'simulated',
    timezone: 'UTC',
    retired: false,
    connection: 'not_applicable',
    connection_since: null,
    newest_reading: newest,
    days_since_reading: null,
    valid_days_7: 0,
    valid_days_30: 0,
    valid_days_total: 0,
    flags,
  }
}

const compliance: ComplianceResponse = {
  start: DAYS[0]!,
  end: DAYS[2]!,
  valid_day_minutes: 600,
  days: DAYS,
  participants: [
    grid('p1', [700, 700, 700]), // 3 of 3
    grid('p2', [700, null, 100]), // 1 of 3
    grid('p3', [null, null, null], null), // 0 of 3
    grid('p4', [700, 700, 100]), // 2 of 3
  ],
}
const statuses = [
  status('p1', '2026-01-03T20:00:00Z'),
  status('p2', '2026-01-03T08:00:00Z', ['no_valid_day']),
  status('p3', null, ['no_valid_day', 'no_data']),
  status('p4', '2026-01-02T10:00:00Z'),
]
const rows = buildRows(compliance, statuses)
const ids = (list: { userId: string }[]) => list.map((row) => row.userId)

describe('study rows', () => {
  it('join the grid and the status list by participant', () => {
    expect(ids(rows)).toEqual(['p1', 'p2', 'p3', 'p4'])
    expect(rows[1]!.status?.flags).toEqual(['no_valid_day'])
    expect(rows.map((row) => row.compliance.share)).toEqual([1, 1 / 3, 0, 2 / 3])
    expect(buildRows(compliance, [])[0]!.status).toBeNull()
  })

  it('sort by compliance, lowest first, or the reverse', () => {
    expect(ids(sortRows(rows, 'compliance', false))).toEqual(['p3', 'p2', 'p4', 'p1'])
    expect(ids(sortRows(rows, 'compliance', true))).toEqual(['p1', 'p4', 'p2', 'p3'])
  })

  it('sort by newest reading, the stalest (or none) first', () => {
    expect(ids(sortRows(rows, 'newest', false))).toEqual(['p3', 'p4', 'p2', 'p1'])
    expect(ids(sortRows(rows, 'newest', true))).toEqual(['p1', 'p2', 'p4', 'p3'])
  })

  it('sort by id, and break ties by id', () => {
    expect(ids(sortRows([...rows].reverse(), 'id', false))).toEqual(['p1', 'p2', 'p3', 'p4'])
    expect(ids(sortRows(rows, 'id', true))).toEqual(['p4', 'p3', 'p2', 'p1'])
    const tied = buildRows({ ...compliance, participants: [grid('b', [700, 700, 700]), grid('a', [700, 700, 700])] }, [])
    expect(ids(sortRows(tied, 'compliance', false))).toEqual(['a', 'b'])
  })

  it('filter to the flagged participants, a cohort, or both', () => {
    expect(ids(filterRows(rows, { cohort: null, flaggedOnly: true }))).toEqual(['p2', 'p3'])
    expect(filterRows(rows, { cohort: null, flaggedOnly: false })).toBe(rows)
    expect(ids(filterRows(rows, { cohort: 'site-a', flaggedOnly: false }))).toEqual(['p1', 'p2', 'p4'])
    expect(ids(filterRows(rows, { cohort: 'site-a', flaggedOnly: true }))).toEqual(['p2'])
    expect(filterRows(rows, { cohort: 'site-z', flaggedOnly: false })).toEqual([])
  })

  it('list the cohorts present, participants without one left out', () => {
    expect(cohortsOf(rows)).toEqual(['site-a'])
    expect(cohortsOf([])).toEqual([])
  })

  it('total what is shown', () => {
    expect(totalsOf(rows)).toEqual({
      participants: 4,
      flagged: 2,
      dueDays: 12,
      validDays: 6,
      noDataDays: 4,
      validShare: 0.5,
    })
    expect(totalsOf([]).validShare).toBeNull()
  })

  it('write what is shown as CSV, in the shown order', () => {
    const shown = sortRows(filterRows(rows, { cohort: null, flaggedOnly: true }), 'compliance', false)
    const lines = rowsCsv(shown, DAYS).trimEnd().split('\n')
    expect(lines[0]).toBe(CSV_HEADER.join(','))
    expect(lines.slice(1)).toEqual([
      'p3,,2026-01-01,,,no_data,no_valid_day no_data',
      'p3,,2026-01-02,,,no_data,no_valid_day no_data',
      'p3,,2026-01-03,,,no_data,no_valid_day no_data',
      'p2,site-a,2026-01-01,700,true,valid,no_valid_day',
      'p2,site-a,2026-01-02,,,no_data,no_valid_day',
      'p2,site-a,2026-01-03,100,false,invalid,no_valid_day',
    ])
  })
})
