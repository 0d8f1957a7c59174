import { useCallback, useEffect, useMemo, useRef } from 'react'
import type uPlot from 'uplot'
import type { ZoneBand } from '../lib/daily.ts'
import { pinchWindow } from '../lib/gesture.ts'
import type { TimeWindow } from '../state/presets.ts'
import { MIN_DRAG_PX, timeAxis, valueAxis, withAlpha } from './chartOptions.ts'
import { UPlotChart } from './UPlotChart.tsx'

interface Props {
  /** x, then average, min and max per user in `userIds` order (lib/series alignUsers). */
  data: uPlot.AlignedData
  userIds: string[]
  colours: Map<string, string>
  window: TimeWindow
  timeZone: string
  zoneBands: ZoneBand[]
  width: number
  height: number
  /** Names the data on screen; each new one is marked once it is drawn (performance 'hr:chart-drawn'). */
  dataKey: string
  onZoom: (start: number, end: number) => void
  onCursor: (index: number | null) => void
}

// Zone bands are drawn this opaque behind the lines.
const ZONE_ALPHA = 0.13
const BAND_ALPHA = 0.22
const ZONE_LABEL_PX = 14

export function DetailChart(props: Props) {
  const { data, userIds, colours, window, timeZone, zoneBands, width, height } = props
  const chartRef = useRef<uPlot | null>(null)
  // Hooks inside uPlot read the newest props through this ref, so the chart is not rebuilt.
  const live = useRef(props)
  live.current = props

  const userKey = userIds.map((id) => `${id}:${colours.get(id) ?? ''}`).join(',')
  const options = useMemo((): Omit<uPlot.Options, 'width' | 'height'> => {
    const time = timeAxis(timeZone)
    const series: uPlot.Series[] = [{}]
    const bands: uPlot.Band[] = []
    userIds.forEach((id, i) => {
      const colour = colours.get(id) ?? '#000000'
      series.push(
        // Points drawn where uPlot finds room for them (a zoom into raw readings), else the line alone.
        { label: id, stroke: colour, width: 1.5, spanGaps: false, points: { size: 4, fill: colour } },
        { label: `${id} min`, stroke: 'transparent', spanGaps: false, points: { show: false } },
        { label: `${id} max`, stroke: 'transparent', spanGaps: false, points: { show: false } },
      )
      bands.push({ series: [3 + i * 3, 2 + i * 3], fill: withAlpha(colour, BAND_ALPHA) })
    })
    return {
      ms: time.ms,
      tzDate: time.tzDate,
      legend: { show: false },
      series,
      bands,
      scales: { x: { time: true, auto: false } },
      axes: [time.axis, valueAxis('bpm')],
      cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 6 } },
      hooks: {
        drawClear: [drawZones],
        draw: [
          (u) => {
            // Kept on the chart itself: a rebuilt chart (another time zone, StrictMode's remount) marks its first draw too.
            const key = live.current.dataKey
            if (u.root.dataset.drawnKey === key) return
            u.root.dataset.drawnKey = key
            performance.mark('hr:chart-drawn', { detail: { key, points: u.data[0].length } })
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < MIN_DRAG_PX) return
            performance.mark('hr:zoom-select')
            const start = u.posToVal(u.select.left, 'x')
            const end = u.posToVal(u.select.left + u.select.width, 'x')
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
            live.current.onZoom(start, end)
          },
        ],
        setCursor: [(u) => live.current.onCursor(u.cursor.idx ?? null)],
      },
    }
    // userKey stands for userIds and colours.
  }, [userKey, timeZone])

  function drawZones(u: uPlot) {
    const { ctx, bbox } = u
    ctx.save()
    ctx.beginPath()
    ctx.rect(bbox.left, bbox.top, bbox.width, bbox.height)
    ctx.clip()
    ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`
    ctx.textAlign = 'right'
    ctx.textBaseline = 'top'
    for (const band of live.current.zoneBands) {
      const top = u.valToPos(band.max, 'y', true)
      const bottom = u.valToPos(band.min, 'y', true)
      ctx.fillStyle = withAlpha(band.colour, ZONE_ALPHA)
      ctx.fillRect(bbox.left, top, bbox.width, bottom - top)
      // Named only where enough of the band is in view for its label.
      const visibleTop = Math.max(top, bbox.top)
      if (Math.min(bottom, bbox.top + bbox.height) - visibleTop > ZONE_LABEL_PX * devicePixelRatio) {
        ctx.fillStyle = band.colour
        ctx.fillText(band.name, bbox.left + bbox.width - 4, visibleTop + 2)
      }
    }
    ctx.restore()
  }

  const showWindow = useCallback((u: uPlot) => {
    const { start, end } = live.current.window
    u.setScale('x', { min: start, max: end })
  }, [])

  // A zoom shows at once on the data at hand, then again when the finer data arrives.
  useEffect(() => {
    const u = chartRef.current
    if (u && (u.scales.x?.min !== window.start || u.scales.x?.max !== window.end)) showWindow(u)
  }, [window, showWindow])

  useEffect(() => {
    chartRef.current?.redraw(false)
  }, [zoneBands])

  const onCreate = useCallback((u: uPlot) => {
    chartRef.current = u
    const detach = attachPinch(u, (start, end) => live.current.onZoom(start, end))
    return () => {
      detach()
      chartRef.current = null
    }
  }, [])

  return <UPlotChart options={options} data={data} width={width} height={height} onData={showWindow} onCreate={onCreate} />
}

/**
 * Two fingers on the plot: spread to zoom in, pinch to zoom out, move together to pan. The chart
 * follows the fingers; lifting them asks for the data of the new window. One finger still
 * scrolls the page (touch-action: pan-y on the overlay).
 */
function attachPinch(u: uPlot, onZoom: (start: number, end: number) => void): () => void {
  const over = u.over
  let begin: { window: TimeWindow; at: [number, number] } | null = null
  let current: TimeWindow | null = null
  const positions = (event: TouchEvent): [number, number] => {
    const rect = over.getBoundingClientRect()
    const [a, b] = [event.touches[0], event.touches[1]]
    return [(a?.clientX ?? 0) - rect.left, (b?.clientX ?? 0) - rect.left]
  }
  const onStart = (event: TouchEvent) => {
    if (event.touches.length !== 2) return
    event.preventDefault()
    begin = { window: { start: u.scales.x?.min ?? 0, end: u.scales.x?.max ?? 0 }, at: positions(event) }
    current = null
  }
  const onMove = (event: TouchEvent) => {
    if (!begin || event.touches.length !== 2) return
    event.preventDefault()
    current = pinchWindow(begin.window, begin.at, positions(event), over.clientWidth)
    u.setScale('x', { min: current.start, max: current.end })
  }
  const onEnd = (event: TouchEvent) => {
    if (!begin || event.touches.length >= 2) return
    if (current) {
      performance.mark('hr:zoom-select')
      onZoom(current.start, current.end)
    }
    begin = null
    current = null
  }
  over.addEventListener('touchstart', onStart, { passive: false })
  over.addEventListener('touchmove', onMove, { passive: false })
  over.addEventListener('touchend', onEnd)
  over.addEventListener('touchcancel', onEnd)
  return () => {
    over.removeEventListener('touchstart', onStart)
    over.removeEventListener('touchmove', onMove)
    over.removeEventListener('touchend', onEnd)
    over.removeEventListener('touchcancel', onEnd)
  }
}
