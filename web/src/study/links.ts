// Where a heatmap cell leads: the explorer on that participant's local day.
import { fromWallInput } from '../lib/time.ts'
import { DEFAULT_VIEW, serializeView } from '../state/view.ts'
import { addDays } from './view.ts'

/** The explorer's address (under `base`, the app's path) showing `userId`'s local `day` in `timeZone`. */
export function explorerDayLink(base: string, userId: string, day: string, timeZone: string): string {
  const start = fromWallInput(`${day}T00:00`, timeZone)
  const end = fromWallInput(`${addDays(day, 1)}T00:00`, timeZone)
  if (start === null || end === null) return `${base}?${serializeView({ ...DEFAULT_VIEW, users: [userId] })}`
  return `${base}?${serializeView({ ...DEFAULT_VIEW, users: [userId], range: { custom: { start, end } }, timeZone })}`
}
