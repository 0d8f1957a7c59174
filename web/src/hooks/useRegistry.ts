import { client } from '../api/session.ts'
import type { Limits, UsersResponse } from '../api/types.ts'
import { useQuery, type QueryState } from './useQuery.ts'

export interface Registry {
  /** The API's limits (GET /limits): how many users and points one request may ask for. */
  limits: QueryState<Limits>
  /** The users this key may read (GET /users). */
  users: QueryState<UsersResponse>
}

/** What every page needs first, asked in parallel: the API's limits and the readable users. */
export function useRegistry(attempt: number): Registry {
  const limits = useQuery(`limits#${attempt}`, (signal) => client.limits(signal))
  const users = useQuery(`users#${attempt}`, (signal) => client.users(signal))
  return { limits, users }
}
