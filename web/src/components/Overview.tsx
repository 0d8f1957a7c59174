import { useCallback, useEffect, useMemo, useRef } from 'react'
import type uPlot from 'uplot'
import type { TimeWindow } from '../state/presets.ts'
import { MIN_DRAG_PX, timeAxis, withAlpha } from './chartOptions.ts'
import { UPlotChart } from './UPlotChart.tsx'

interface Props {
  data: uPlot.AlignedData
  userIds: string[]
  colours: Map<string, string>
  range: TimeWindow
  zoom: TimeWindow | null
  timeZone: string
  width: number
  onZoom: (start: number, end: number) => void
}

const HEIGHT = 72
// Outside the zoomed window the strip is dimmed this much.
const DIM = 'rgba(255, 255, 255, 0.7)'
const WINDOW_EDGE = '#1a202c'

/** The whole range, small, above the detail chart; the zoomed window is the undimmed part. */
export function Overview({ data, userIds, colours, range, zoom, timeZone, width, onZoom }: Props) {
  const live = useRef({ range, zoom, onZoom })
  live.current = { range, zoom, onZoom }
  const chartRef = useRef<uPlot | null>(null)

  const userKey = userIds.map((id) => `${id}:${colours.get(id) ?? ''}`).join(',')
  const options = useMemo((): Omit<uPlot.Options, 'width' | 'height'> => {
    const time = timeAxis(timeZone)
    return {
      ms: time.ms,
      tzDate: time.tzDate,
      legend: { show: false },
      series: [
        {},
        ...userIds.flatMap((id): uPlot.Series[] => {
          const colour = colours.get(id) ?? '#000000'
          return [
            { label: id, stroke: withAlpha(colour, 0.9), width: 1, spanGaps: false, points: { show: false } },
            { show: false },
            { show: false },
          ]
        }),
      ],
      scales: { x: { time: true, auto: false } },
      axes: [{ ...time.axis, size: 28, grid: { show: false } }, { show: false }],
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false }, y: false },
      hooks: {
        draw: [markWindow],
        setSelect: [
          (u) => {
            if (u.select.width < MIN_DRAG_PX) return
            const start = u.posToVal(u.select.left, 'x')
            const end = u.posToVal(u.select.left + u.select.width, 'x')
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
            live.current.onZoom(start, end)
          },
        ],
      },
    }
  }, [userKey, timeZone])

  function markWindow(u: uPlot) {
    const { zoom: window } = live.current
    if (!window) return
    const { ctx, bbox } = u
    const left = Math.max(bbox.left, u.valToPos(window.start, 'x', true))
    const right = Math.min(bbox.left + bbox.width, u.valToPos(window.end, 'x', true))
    ctx.save()
    ctx.fillStyle = DIM
    ctx.fillRect(bbox.left, bbox.top, left - bbox.left, bbox.height)
    ctx.fillRect(right, bbox.top, bbox.left + bbox.width - right, bbox.height)
    ctx.strokeStyle = WINDOW_EDGE
    ctx.lineWidth = devicePixelRatio
    ctx.strokeRect(left, bbox.top, Math.max(right - left, devicePixelRatio), bbox.height)
    ctx.restore()
  }

  const showRange = useCallback((u: uPlot) => {
    u.setScale('x', { min: live.current.range.start, max: live.current.range.end })
  }, [])

  useEffect(() => {
    const u = chartRef.current
    if (!u) return
    if (u.scales.x?.min !== range.start || u.scales.x?.max !== range.end) showRange(u)
    else u.redraw(false)
  }, [range, zoom, showRange])

  const onCreate = useCallback((u: uPlot) => {
    chartRef.current = u
    return () => {
      chartRef.current = null
    }
  }, [])

  return <UPlotChart options={options} data={data} width={width} height={HEIGHT} onData={showRange} onCreate={onCreate} />
}
