import { isTimeZone } from '../lib/time.ts'
import { parseView, serializeView, type ViewState } from '../state/view.ts'
import { useUrlState } from './useUrlState.ts'

const parseExplorerView = (search: string) => parseView(search, isTimeZone)

/** The explorer's view (users, range, zoom, time zone, zones), kept in the address bar. */
export function useViewState() {
  return useUrlState<ViewState>(parseExplorerView, serializeView)
}
