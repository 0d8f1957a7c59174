import { useCallback, useEffect, useState } from 'react'
import { isTimeZone } from '../lib/time.ts'
import { parseView, serializeView, type ViewState } from '../state/view.ts'

/**
 * The view, kept in the address bar: every change is a history entry (Back steps back through
 * zooms, ranges and users), and a reload or a shared link shows the same view.
 */
export function useViewState(): {
  view: ViewState
  problems: string[]
  setView: (update: (view: ViewState) => ViewState) => void
} {
  const [parsed, setParsed] = useState(() => parseView(window.location.search, isTimeZone))

  useEffect(() => {
    const onPop = () => setParsed(parseView(window.location.search, isTimeZone))
    window.addEventListener('popstate', onPop)
    return () => window.removeEventListener('popstate', onPop)
  }, [])

  const setView = useCallback((update: (view: ViewState) => ViewState) => {
    setParsed((previous) => {
      const view = update(previous.view)
      const search = serializeView(view)
      if (search !== window.location.search.replace(/^\?/, '')) {
        window.history.pushState(null, '', `${window.location.pathname}${search ? `?${search}` : ''}`)
      }
      return { view, problems: [] }
    })
  }, [])

  return { view: parsed.view, problems: parsed.problems, setView }
}
