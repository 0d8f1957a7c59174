import { describe, expect, it } from 'vitest'
import type { TimeseriesPoint } from '../api/types.ts'
import { RAW_GAP_MS, alignUsers, findGaps, gapThresholdMs, toColumns } from './series.ts'

const point = (timestamp: string, value: number, min = value, max = value, count = 1): TimeseriesPoint => ({
  timestamp,
  value,
  min,
  max,
  count,
  user_id: 'user1',
})

describe('gap detection', () => {
  it('finds silences longer than the threshold', () => {
    expect(findGaps([0, 1000, 2000, 90_000, 91_000, 200_000], RAW_GAP_MS)).toEqual([2, 4])
    expect(findGaps([], RAW_GAP_MS)).toEqual([])
    expect(findGaps([5], RAW_GAP_MS)).toEqual([])
  })

  it('treats a missing bucket as a gap, but not a 25-hour local day', () => {
    expect(gapThresholdMs('1m')).toBe(90_000)
    const minutes = ['10:00', '10:01', '10:03'].map((t) => Date.parse(`2025-06-01T${t}:00Z`))
    expect(findGaps(minutes, gapThresholdMs('1m'))).toEqual([1])
    // Berlin's fall-back day: local midnights 25 h apart.
    const days = [Date.parse('2025-10-25T22:00:00Z'), Date.parse('2025-10-26T23:00:00Z')]
    expect(findGaps(days, gapThresholdMs('1d'))).toEqual([])
  })

  it('allows the 1-15 s sampling of raw readings', () => {
    expect(gapThresholdMs('1s')).toBe(RAW_GAP_MS)
    expect(findGaps([0, 15_000, 30_000], gapThresholdMs('1s'))).toEqual([])
  })
})

describe('point and band columns', () => {
  it('keeps average, min and max, and puts a null in each gap', () => {
    const columns = toColumns(
      [
        point('2025-06-01T10:00:00+00:00', 70.5, 60, 80, 60),
        point('2025-06-01T10:01:00+00:00', 72, 65, 90, 58),
        point('2025-06-01T10:05:00+00:00', 75, 70, 81, 60),
      ],
      '1m',
    )
    const t = (hm: string) => Date.parse(`2025-06-01T${hm}Z`)
    expect(columns).toEqual({
      times: [t('10:00:00'), t('10:01:00'), t('10:03:00'), t('10:05:00')],
      avg: [70.5, 72, null, 75],
      min: [60, 65, null, 70],
      max: [80, 90, null, 81],
    })
  })

  it('reads the local-midnight timestamps of daily points as instants', () => {
    const columns = toColumns([point('2025-06-01T00:00:00+02:00', 61)], '1d')
    expect(columns.times).toEqual([Date.parse('2025-05-31T22:00:00Z')])
  })

  it('aligns users on one x axis: undefined between, null in gaps', () => {
    const data = alignUsers(
      [
        { user_id: 'a', count: 2, data: [point('2025-06-01T10:00:00Z', 60), point('2025-06-01T10:00:05Z', 61)] },
        { user_id: 'b', count: 2, data: [point('2025-06-01T10:00:02Z', 80), point('2025-06-01T10:03:00Z', 81)] },
      ],
      '1s',
    )
    const t0 = Date.parse('2025-06-01T10:00:00Z')
    const gap = Math.round((t0 + 2000 + t0 + 180_000) / 2)
    expect(data[0]).toEqual([t0, t0 + 2000, t0 + 5000, gap, t0 + 180_000])
    expect(data[1]).toEqual([60, undefined, 61, undefined, undefined])
    expect(data[4]).toEqual([undefined, 80, undefined, null, 81])
    expect(data).toHaveLength(1 + 2 * 3)
  })
})
