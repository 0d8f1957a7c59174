import type { TimeWindow } from '../state/presets.ts'

/**
 * The window after a two-finger gesture: the instants that were under the fingers when it
 * began stay under them, so spreading zooms in, pinching zooms out, and moving both fingers
 * pans. Positions are CSS pixels from the plot's left edge; `width` is the plot's width.
 */
export function pinchWindow(
  begin: TimeWindow,
  from: readonly [number, number],
  to: readonly [number, number],
  width: number,
): TimeWindow {
  const span = begin.end - begin.start
  const at = (px: number) => begin.start + (px / width) * span
  const [a0, b0] = from[0] <= from[1] ? from : [from[1], from[0]]
  const [a1, b1] = to[0] <= to[1] ? to : [to[1], to[0]]
  const ta = at(a0)
  const tb = at(b0)
  const fingers = b1 - a1
  // Fingers together (or one on top of the other): only the pan is defined.
  const newSpan = fingers > 1 && b0 - a0 > 1 ? ((tb - ta) * width) / fingers : span
  const start = ta - (a1 / width) * newSpan
  return { start, end: start + newSpan }
}
