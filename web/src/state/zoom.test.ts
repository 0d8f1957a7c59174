import { describe, expect, it } from 'vitest'
import { MIN_ZOOM_MS, clampWindow, pan, zoomOut, zoomTo } from './zoom.ts'

const range = { start: 0, end: 1_000_000 }

describe('zoom', () => {
  it('zooms to a selection dragged either way', () => {
    expect(zoomTo(300_000, 200_000, range)).toEqual({ start: 200_000, end: 300_000 })
  })

  it('widens a tiny selection to the narrowest zoom around its middle', () => {
    expect(zoomTo(500_000, 500_100, range)).toEqual({ start: 495_000, end: 495_000 + MIN_ZOOM_MS })
  })

  it('keeps whole seconds, as the URL does', () => {
    expect(zoomTo(200_400, 300_600, range)).toEqual({ start: 200_000, end: 301_000 })
  })

  it('is no zoom when the selection covers the range', () => {
    expect(zoomTo(-5, 1_000_005, range)).toBeNull()
  })

  it('steps back out twice as wide, back to no zoom at the range', () => {
    expect(zoomOut({ start: 400_000, end: 500_000 }, range)).toEqual({ start: 350_000, end: 550_000 })
    expect(zoomOut({ start: 0, end: 600_000 }, range)).toBeNull()
    expect(zoomOut({ start: 900_000, end: 1_000_000 }, range)).toEqual({ start: 800_000, end: 1_000_000 })
  })

  it('pans by half a window and stops at the range edges', () => {
    expect(pan({ start: 400_000, end: 500_000 }, range, 1)).toEqual({ start: 450_000, end: 550_000 })
    expect(pan({ start: 20_000, end: 120_000 }, range, -1)).toEqual({ start: 0, end: 100_000 })
  })

  it('fits a window into bounds', () => {
    expect(clampWindow({ start: -50, end: 50 }, { start: 0, end: 1000 })).toEqual({ start: 0, end: 100 })
    expect(clampWindow({ start: -50, end: 5000 }, { start: 0, end: 1000 })).toEqual({ start: 0, end: 1000 })
  })
})
