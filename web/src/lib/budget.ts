// How many points a time-series request asks for: enough for the chart's width, never more than
// the API allows (its limit comes from GET /limits, not from here).

/** Points per pixel of plot width and user for the detail chart: two keep peaks visible without waste. */
export const POINTS_PER_PIXEL = 2
/** The overview strip needs far fewer. */
export const OVERVIEW_POINTS_PER_PIXEL = 0.5
/** Budgets are rounded up to this many points so that a small resize does not ask again. */
export const POINTS_STEP = 250

/** The max_points of a request for `users` users on a `width` px plot, within the API's `maxPoints`. */
export function pointBudget(width: number, perPixel: number, users: number, maxPoints: number): number {
  const perUser = Math.max(POINTS_STEP, Math.ceil((width * perPixel) / POINTS_STEP) * POINTS_STEP)
  return Math.min(maxPoints, perUser * Math.max(users, 1))
}
