import { describe, expect, it } from 'vitest'
import { DEFAULT_STUDY_VIEW, addDays, dayCount, isDay, parseStudyView, resolveStudyRange, serializeStudyView, type StudyView } from './view.ts'

describe('Study URL state', () => {
  it('round-trips a full view', () => {
    const view: StudyView = {
      range: { custom: { start: '2026-01-01', end: '2026-03-31' } },
      cohort: 'site-a',
      flaggedOnly: true,
      sort: 'newest',
      descending: true,
    }
    const search = serializeStudyView(view)
    expect(search).toBe('start=2026-01-01&end=2026-03-31&cohort=site-a&flagged=1&sort=newest&order=desc')
    expect(parseStudyView(`?${search}`)).toEqual({ view, problems: [] })
  })

  it('leaves defaults out and round-trips presets', () => {
    expect(serializeStudyView(DEFAULT_STUDY_VIEW)).toBe('')
    expect(parseStudyView('')).toEqual({ view: DEFAULT_STUDY_VIEW, problems: [] })
    const view: StudyView = { ...DEFAULT_STUDY_VIEW, range: { preset: '2y' }, sort: 'id' }
    expect(serializeStudyView(view)).toBe('range=2y&sort=id')
    expect(parseStudyView(serializeStudyView(view)).view).toEqual(view)
  })

  it('lists what it does not understand and keeps the rest', () => {
    const { view, problems } = parseStudyView('range=5y&cohort=Site%20A&flagged=yes&sort=age&order=up&start=2026-02-30&end=2026-03-01')
    expect(view).toEqual(DEFAULT_STUDY_VIEW)
    expect(problems).toEqual([
      'start=2026-02-30&end=2026-03-01: expected two days such as 2026-01-01, start not after end',
      'cohort=Site A: not a cohort name (a-z, 0-9, _ and -)',
      'flagged=yes: expected 1',
      'sort=age: expected one of compliance, newest, id',
      'order=up: expected asc or desc',
    ])
    expect(parseStudyView('start=2026-03-02&end=2026-03-01').problems).toHaveLength(1)
  })

  it('ends a preset on the last complete day', () => {
    expect(resolveStudyRange({ preset: '30d' }, '2026-03-01')).toEqual({ start: '2026-01-30', end: '2026-02-28' })
    const twoYears = resolveStudyRange({ preset: '2y' }, '2026-12-06')
    expect(dayCount(twoYears)).toBe(730)
    expect(resolveStudyRange({ custom: { start: '2026-01-01', end: '2026-01-01' } }, '2026-12-06')).toEqual({
      start: '2026-01-01',
      end: '2026-01-01',
    })
  })

  it('does day arithmetic across month, year and leap days', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29')
    expect(addDays('2026-01-01', -1)).toBe('2025-12-31')
    expect(dayCount({ start: '2024-01-01', end: '2024-12-31' })).toBe(366)
    expect(isDay('2024-02-29')).toBe(true)
    expect(isDay('2026-02-29')).toBe(false)
    expect(isDay('2026-1-01')).toBe(false)
  })
})
