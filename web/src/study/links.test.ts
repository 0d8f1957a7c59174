import { describe, expect, it } from 'vitest'
import { explorerDayLink } from './links.ts'

describe('a cell’s link to the explorer', () => {
  it('opens the participant’s local day in their zone', () => {
    expect(explorerDayLink('/app/', 'p001', '2026-01-03', 'Europe/Berlin')).toBe(
      '/app/?users=p001&range=custom&start=2026-01-02T23:00:00Z&end=2026-01-03T23:00:00Z&tz=Europe/Berlin',
    )
  })

  it('spans 23 hours on the day clocks go forward', () => {
    const link = explorerDayLink('/app/', 'p002', '2026-03-08', 'America/New_York')
    expect(link).toBe('/app/?users=p002&range=custom&start=2026-03-08T05:00:00Z&end=2026-03-09T04:00:00Z&tz=America/New_York')
  })
})
