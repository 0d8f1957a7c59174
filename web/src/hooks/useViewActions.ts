import { useCallback, type KeyboardEvent } from 'react'
import type { PresetId, TimeWindow } from '../state/presets.ts'
import type { ViewState } from '../state/view.ts'
import { pan, zoomOut, zoomTo } from '../state/zoom.ts'

const UNBOUNDED: TimeWindow = { start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY }

interface Shown {
  range: TimeWindow
  zoom: TimeWindow | null
  visible: TimeWindow
}

/**
 * What the explorer's controls do to the view: every change goes through `setView` (a history
 * entry); `onPreset` also restarts the presets' clock.
 */
export function useViewActions(
  setView: (update: (view: ViewState) => ViewState) => void,
  { range, zoom, visible }: Shown,
  restartClock: () => void,
) {
  const update = useCallback(
    (change: Partial<ViewState>) => setView((previous) => ({ ...previous, ...change })),
    [setView],
  )
  const onZoom = useCallback(
    (start: number, end: number) => update({ zoom: zoomTo(start, end, range) }),
    [update, range],
  )
  const onPan = (direction: -1 | 1) => {
    if (zoom) update({ zoom: pan(zoom, range, direction) })
    else update({ range: { custom: pan(range, UNBOUNDED, direction) }, zoom: null })
  }
  const onZoomOut = () => update({ zoom: zoomOut(zoom, range) })
  const onResetZoom = () => update({ zoom: null })
  const onPreset = (id: PresetId) => {
    restartClock()
    update({ range: { preset: id }, zoom: null })
  }
  const onChartKey = (event: KeyboardEvent) => {
    const width = visible.end - visible.start
    const zoomIn = () => onZoom(visible.start + width / 4, visible.end - width / 4)
    const actions: Record<string, () => void> = {
      ArrowLeft: () => onPan(-1),
      ArrowRight: () => onPan(1),
      '+': zoomIn,
      '=': zoomIn,
      '-': onZoomOut,
      Escape: onResetZoom,
    }
    const action = actions[event.key]
    if (action) {
      event.preventDefault()
      action()
    }
  }
  return { update, onZoom, onPan, onZoomOut, onResetZoom, onPreset, onChartKey }
}
