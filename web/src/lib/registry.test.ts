import { describe, expect, it } from 'vitest'
import { usersCountLabel } from './registry.ts'

describe('the header’s user count', () => {
  it('says a key’s count is what the key sees, not the registry', () => {
    expect(usersCountLabel(1, true)).toBe('1 user visible to this key')
    expect(usersCountLabel(1_200, true)).toBe('1,200 users visible to this key')
  })

  it('calls the count the registry where no key is used', () => {
    expect(usersCountLabel(7, false)).toBe('7 users in the registry')
    expect(usersCountLabel(1, false)).toBe('1 user in the registry')
  })
})
