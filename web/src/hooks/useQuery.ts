import { useEffect, useRef, useState } from 'react'
import { LatestOnly } from '../api/latest.ts'

// Requests of one query start at most this often while changes keep coming (key repeat, resizes).
export const DEBOUNCE_MS = 150

export interface QueryState<T> {
  /** The newest answer; kept while a newer request is on its way, so the screen does not blank. */
  data: T | null
  /** The key `data` answers (compare with the key asked for to know whether it is current). */
  dataKey: string | null
  error: unknown
  loading: boolean
}

/**
 * Runs `task` whenever `key` changes (null: nothing to ask), cancelling the request before it;
 * only the answer to the newest key is ever stored. A key already asked is not asked again:
 * React's StrictMode unmounts and remounts every component once on its first render (the Vite
 * dev server), and without this every first request went out twice, the first one aborted.
 */
export function useQuery<T>(key: string | null, task: (signal: AbortSignal) => Promise<T>): QueryState<T> {
  const latest = useRef<LatestOnly | null>(null)
  const askedKey = useRef<string | null>(null)
  const pendingStop = useRef<ReturnType<typeof setTimeout> | null>(null)
  const taskRef = useRef(task)
  taskRef.current = task
  const [state, setState] = useState<QueryState<T>>({ data: null, dataKey: null, error: null, loading: false })

  useEffect(() => {
    if (pendingStop.current !== null) clearTimeout(pendingStop.current)
    pendingStop.current = null
    if (key !== null && key === askedKey.current) return
    askedKey.current = key
    latest.current ??= new LatestOnly(DEBOUNCE_MS)
    const runner = latest.current
    if (key === null) {
      runner.stop()
      setState((previous) => ({ ...previous, loading: false }))
      return
    }
    setState((previous) => ({ ...previous, loading: true }))
    runner.run(
      (signal) => taskRef.current(signal),
      (outcome) =>
        setState((previous) =>
          outcome.ok
            ? { data: outcome.value, dataKey: key, error: null, loading: false }
            : { ...previous, error: outcome.error, loading: false },
        ),
    )
  }, [key])

  // On unmount, stop what is in flight, unless the component comes straight back (StrictMode's
  // remount runs the effect above first, which cancels this).
  useEffect(
    () => () => {
      pendingStop.current = setTimeout(() => {
        latest.current?.stop()
        askedKey.current = null
      }, 0)
    },
    [],
  )
  return state
}
