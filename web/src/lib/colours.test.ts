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

  it('differ between up to ten users', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `participant-${i}`)
    const colours = new Set(assignColours(ids).values())
    expect(colours.size).toBe(10)
    for (const colour of colours) expect(PALETTE).toContain(colour)
  })
})
