import uPlot from 'uplot'
import { axisLabel } from '../lib/format.ts'
import { localDate } from '../lib/time.ts'

// Shared look of the dashboard's charts: times in epoch ms, drawn in the chosen time zone.

export const AXIS_STROKE = '#4a5568'
export const GRID_STROKE = '#e2e8f0'

/** The x axis and scale of a time chart, labelled in `timeZone`. */
export function timeAxis(timeZone: string): { ms: 1; tzDate: (ms: number) => Date; axis: uPlot.Axis } {
  return {
    ms: 1,
    tzDate: (ms: number) => uPlot.tzDate(new Date(ms), timeZone),
    axis: {
      stroke: AXIS_STROKE,
      grid: { stroke: GRID_STROKE, width: 1 },
      ticks: { stroke: GRID_STROKE },
      // The date under the first tick and under each tick on a new local day.
      values: (_u, splits, _axis, _space, increment) =>
        splits.map((ms, i) => {
          const previous = splits[i - 1]
          const newDay = previous === undefined || localDate(previous, timeZone) !== localDate(ms, timeZone)
          return axisLabel(ms, increment, timeZone, newDay)
        }),
    },
  }
}

export function valueAxis(label: string, size = 50): uPlot.Axis {
  return { label, stroke: AXIS_STROKE, grid: { stroke: GRID_STROKE, width: 1 }, ticks: { stroke: GRID_STROKE }, size }
}

/** `#rrggbb` with an alpha (0..1) as `#rrggbbaa`. */
export function withAlpha(colour: string, alpha: number): string {
  return `${colour}${Math.round(alpha * 255)
    .toString(16)
    .padStart(2, '0')}`
}

// Drags shorter than this many CSS pixels are clicks, not selections.
export const MIN_DRAG_PX = 5
