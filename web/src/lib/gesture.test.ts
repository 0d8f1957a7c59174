import { describe, expect, it } from 'vitest'
import { pinchWindow } from './gesture.ts'

const hour = { start: 0, end: 3_600_000 }

describe('two-finger gestures', () => {
  it('zoom in when the fingers spread, around the point between them', () => {
    expect(pinchWindow(hour, [150, 250], [100, 300], 400)).toEqual({ start: 900_000, end: 2_700_000 })
  })

  it('zoom out when they pinch together', () => {
    expect(pinchWindow(hour, [100, 300], [150, 250], 400)).toEqual({ start: -1_800_000, end: 5_400_000 })
  })

  it('pan when both fingers move the same way', () => {
    expect(pinchWindow(hour, [100, 200], [140, 240], 400)).toEqual({ start: -360_000, end: 3_240_000 })
  })
})
