import { formatCount } from './format.ts'

/**
 * The header's count of users, saying what it counts: with a key, the users that key may read
 * (a per-user or cohort key sees part of the registry); without one (HR_API_AUTH=off), the registry.
 */
export function usersCountLabel(count: number, withKey: boolean): string {
  const users = `${formatCount(count)} ${count === 1 ? 'user' : 'users'}`
  return withKey ? `${users} visible to this key` : `${users} in the registry`
}
