import { useEffect, useRef } from 'react'
import uPlot from 'uplot'

interface Props {
  /** Options without size; a new object rebuilds the chart (keep it memoised). */
  options: Omit<uPlot.Options, 'width' | 'height'>
  data: uPlot.AlignedData
  width: number
  height: number
  /** Called after every data update with the chart, e.g. to set the x scale. */
  onData?: (chart: uPlot) => void
  /** Called once per chart built, to attach listeners to its overlay; return a cleanup. */
  onCreate?: (chart: uPlot) => (() => void) | void
}

/** A uPlot chart as a React component: built once per options, fed new data in place. */
export function UPlotChart({ options, data, width, height, onData, onCreate }: Props) {
  const root = useRef<HTMLDivElement>(null)
  const chart = useRef<uPlot | null>(null)
  const latest = useRef({ data, width, height, onData, onCreate })
  latest.current = { data, width, height, onData, onCreate }

  useEffect(() => {
    if (!root.current) return
    const { data: initial, width: w, height: h } = latest.current
    const built = new uPlot({ ...options, width: Math.max(w, 1), height: h }, initial, root.current)
    chart.current = built
    const cleanup = latest.current.onCreate?.(built)
    latest.current.onData?.(built)
    return () => {
      cleanup?.()
      built.destroy()
      chart.current = null
    }
  }, [options])

  useEffect(() => {
    const built = chart.current
    if (!built || built.data === data) return
    built.batch(() => {
      built.setData(data, true)
      latest.current.onData?.(built)
    })
  }, [data])

  useEffect(() => {
    const built = chart.current
    if (built && width > 0 && (built.width !== width || built.height !== height)) built.setSize({ width, height })
  }, [width, height])

  return <div ref={root} />
}
