import { describe, expect, it } from 'vitest'
import { PALETTE, assignColours } from './colours.ts'

describe('user colours', () => {
  it('do not depend on the order users were picked in', () => {
    expect(assignColours(['user2', 'user1'])).toEqual(assignColours(['user1', 'user2']))
  })

  it('keep a user its colour when others are added', () => {
    const alone = assignColours(['user1']).get('user1')
    expect(assignColours(['user1', 'user7', 'zed']).get('user1')).toBe(alone)
  })

  it('differ between as many users as there are colours', () => {
    const ids = Array.from({ length: PALETTE.length }, (_, i) => `participant-${i}`)
    const colours = new Set(assignColours(ids).values())
    expect(colours.size).toBe(PALETTE.length)
    for (const colour of colours) expect(PALETTE).toContain(colour)
  })
})
