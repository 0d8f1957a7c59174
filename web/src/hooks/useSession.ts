import { useCallback, useState } from 'react'
import { storeKey } from '../api/key.ts'

export interface Session {
  /** Bumped by a new key or Retry: part of every query key, so everything asks again. */
  attempt: number
  retry: () => void
  /** Keep `key` for this tab and ask everything again with it. */
  enterKey: (key: string) => void
}

export function useSession(): Session {
  const [attempt, setAttempt] = useState(0)
  const retry = useCallback(() => setAttempt((n) => n + 1), [])
  const enterKey = useCallback(
    (key: string) => {
      storeKey(key)
      retry()
    },
    [retry],
  )
  return { attempt, retry, enterKey }
}
