import type { TimeWindow } from './presets.ts'

// Narrowest window a zoom can reach: a few raw readings (watches sample every 1-15 s).
export const MIN_ZOOM_MS = 10_000
// Zooming out multiplies the window's width by this; panning moves it by this share of its width.
export const ZOOM_OUT_FACTOR = 2
export const PAN_SHARE = 0.5

/** `window` fitted inside `bounds`: shifted back inside if it sticks out, cut if wider. */
export function clampWindow(window: TimeWindow, bounds: TimeWindow): TimeWindow {
  const width = Math.min(window.end - window.start, bounds.end - bounds.start)
  const start = Math.min(Math.max(window.start, bounds.start), bounds.end - width)
  return { start, end: start + width }
}

// Zooms are whole seconds, the finest the API stores and the URL carries, so a link is exact.
const SECOND_MS = 1000
const toSecond = (ms: number) => Math.round(ms / SECOND_MS) * SECOND_MS

/**
 * The zoom for a selection from `start` to `end` (any order), in whole seconds, at least
 * MIN_ZOOM_MS wide around its middle, inside the range; null when that is the whole range.
 */
export function zoomTo(start: number, end: number, range: TimeWindow): TimeWindow | null {
  let lo = toSecond(Math.min(start, end))
  let hi = toSecond(Math.max(start, end))
  if (hi - lo < MIN_ZOOM_MS) {
    const middle = (lo + hi) / 2
    lo = toSecond(middle - MIN_ZOOM_MS / 2)
    hi = lo + MIN_ZOOM_MS
  }
  const zoom = clampWindow({ start: lo, end: hi }, range)
  return zoom.start <= range.start && zoom.end >= range.end ? null : zoom
}

/** One step back out: the window ZOOM_OUT_FACTOR times as wide around its middle. */
export function zoomOut(zoom: TimeWindow | null, range: TimeWindow): TimeWindow | null {
  if (!zoom) return null
  const middle = (zoom.start + zoom.end) / 2
  const half = ((zoom.end - zoom.start) * ZOOM_OUT_FACTOR) / 2
  return zoomTo(middle - half, middle + half, range)
}

/** The zoom moved by `direction` (-1 earlier, +1 later) times PAN_SHARE of its width. */
export function pan(zoom: TimeWindow, range: TimeWindow, direction: -1 | 1): TimeWindow {
  const shift = direction * (zoom.end - zoom.start) * PAN_SHARE
  return clampWindow({ start: zoom.start + shift, end: zoom.end + shift }, range)
}
