import { useCallback, useEffect, useState } from 'react'

/** A page's state as read from its query string, with what in it was not understood. */
export interface Parsed<T> {
  view: T
  problems: string[]
}

/**
 * A page's state kept in the address bar: every change is a history entry (Back steps back), and a
 * reload or a shared link shows the same view. `parse` and `serialize` must be stable functions.
 */
export function useUrlState<T>(
  parse: (search: string) => Parsed<T>,
  serialize: (view: T) => string,
): { view: T; problems: string[]; setView: (update: (view: T) => T) => void } {
  const [parsed, setParsed] = useState(() => parse(window.location.search))

  useEffect(() => {
    const onPop = () => setParsed(parse(window.location.search))
    window.addEventListener('popstate', onPop)
    return () => window.removeEventListener('popstate', onPop)
  }, [parse])

  const setView = useCallback(
    (update: (view: T) => T) => {
      setParsed((previous) => {
        const view = update(previous.view)
        const search = serialize(view)
        if (search !== window.location.search.replace(/^\?/, '')) {
          window.history.pushState(null, '', `${window.location.pathname}${search ? `?${search}` : ''}`)
        }
        return { view, problems: [] }
      })
    },
    [serialize],
  )

  return { view: parsed.view, problems: parsed.problems, setView }
}
