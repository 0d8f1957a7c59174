import { describe, expect, it } from 'vitest'
import { isTimeZone } from '../lib/time.ts'
import { DEFAULT_VIEW, limitUsers, parseView, serializeView, type ViewState } from './view.ts'

const parse = (search: string) => parseView(search, isTimeZone)

describe('URL state', () => {
  it('round-trips a full view through the query string', () => {
    const view: ViewState = {
      users: ['user2', 'user1'],
      range: { custom: { start: Date.parse('2025-06-01T00:00:00Z'), end: Date.parse('2025-06-08T00:00:00Z') } },
      zoom: { start: Date.parse('2025-06-03T10:00:00Z'), end: Date.parse('2025-06-03T10:01:00Z') },
      timeZone: 'America/New_York',
      zones: 'user2',
    }
    const search = serializeView(view)
    expect(search).toBe(
      'users=user2,user1&range=custom&start=2025-06-01T00:00:00Z&end=2025-06-08T00:00:00Z' +
        '&from=2025-06-03T10:00:00Z&to=2025-06-03T10:01:00Z&tz=America/New_York&zones=user2',
    )
    expect(parse(`?${search}`)).toEqual({ view, problems: [] })
  })

  it('round-trips presets and leaves defaults out', () => {
    expect(serializeView(DEFAULT_VIEW)).toBe('')
    expect(parse('')).toEqual({ view: DEFAULT_VIEW, problems: [] })
    const view: ViewState = { ...DEFAULT_VIEW, range: { preset: '1h' }, zones: 'off' }
    expect(serializeView(view)).toBe('range=1h&zones=off')
    expect(parse(serializeView(view)).view).toEqual(view)
  })

  it('keeps second precision (a zoom into one minute)', () => {
    const zoom = { start: Date.parse('2025-06-03T10:00:07Z'), end: Date.parse('2025-06-03T10:01:07Z') }
    const search = serializeView({ ...DEFAULT_VIEW, zoom })
    expect(parse(search).view.zoom).toEqual(zoom)
  })

  it('accepts offsets and reads them as the same instant', () => {
    const { view } = parse('from=2025-06-03T12:00:00%2B02:00&to=2025-06-03T12:30:00%2B02:00')
    expect(view.zoom).toEqual({ start: Date.parse('2025-06-03T10:00:00Z'), end: Date.parse('2025-06-03T10:30:00Z') })
  })

  it('says what it ignored from a bad link and keeps the rest', () => {
    const { view, problems } = parse(
      'users=user1,Bad%20Id,user1&range=2w&from=yesterday&to=2025-06-01T00:00:00Z&tz=Mars/Base&zones=user1',
    )
    expect(view).toEqual({ ...DEFAULT_VIEW, users: ['user1'], zones: 'user1' })
    expect(problems).toEqual([
      'users: Bad Id is not a user id (a-z, 0-9, _ and -)',
      'range=2w: expected custom or one of 1h, 24h, 7d, 30d, 90d, 1y, all',
      'from=yesterday: expected an ISO 8601 date-time such as 2025-06-01T10:00:00Z (both from and to)',
      'tz=Mars/Base: not a time zone (expected an IANA name such as Europe/Berlin)',
    ])
  })

  it('refuses a window that ends before it starts', () => {
    const { view, problems } = parse('range=custom&start=2025-06-08T00:00:00Z&end=2025-06-01T00:00:00Z')
    expect(view.range).toEqual(DEFAULT_VIEW.range)
    expect(problems).toEqual(['end: must be after start'])
  })

  it('keeps at most the API’s limit of users, saying so', () => {
    const ids = Array.from({ length: 25 }, (_, i) => `u${i}`)
    const { view, problems } = parse(`users=${ids.join(',')}`)
    expect(problems).toEqual([])
    expect(limitUsers(view.users, 20)).toEqual({ users: ids.slice(0, 20), problem: 'users: at most 20 at once' })
    expect(limitUsers(view.users, 25)).toEqual({ users: ids, problem: null })
  })
})
