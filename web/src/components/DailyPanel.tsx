import { useMemo } from 'react'
import uPlot from 'uplot'
import type { SummaryResponse } from '../api/types.ts'
import { ACTIVE_ZONES, ZONE_COLOURS, dailyColumns, stackedMinutes } from '../lib/daily.ts'
import { AXIS_STROKE, GRID_STROKE, valueAxis } from './chartOptions.ts'
import { UPlotChart } from './UPlotChart.tsx'

interface Props {
  summaries: SummaryResponse[]
  colours: Map<string, string>
  width: number
}

const DAY_MS = 86_400_000
const RESTING_HEIGHT = 160
const ZONES_HEIGHT = 140
const dayLabel = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'short' })

// Dates on the x axis are local calendar days, plotted at their UTC midnight and labelled in UTC
// so that every user's day keeps its own date.
const dateAxis: uPlot.Axis = {
  stroke: AXIS_STROKE,
  grid: { stroke: GRID_STROKE, width: 1 },
  ticks: { stroke: GRID_STROKE },
  incrs: [1, 2, 7, 14, 30, 91, 182, 365].map((days) => days * DAY_MS),
  values: (_u, splits) => splits.map((ms) => dayLabel.format(ms)),
  space: 48,
}
const dateScale: uPlot.Scale = {
  time: true,
  range: (_u, min, max) => [min - DAY_MS / 2, max + DAY_MS / 2],
}
const bars = uPlot.paths.bars?.({ size: [0.7, 36], align: 0 })

/** Resting heart rate per local day for every user, and each user's minutes per zone, stacked. */
export function DailyPanel({ summaries, colours, width }: Props) {
  const columns = useMemo(() => dailyColumns(summaries), [summaries])
  const userKey = summaries.map((s) => `${s.user_id}:${colours.get(s.user_id) ?? ''}`).join(',')

  const restingOptions = useMemo(
    (): Omit<uPlot.Options, 'width' | 'height'> => ({
      ms: 1,
      legend: { show: false },
      scales: { x: dateScale },
      axes: [dateAxis, valueAxis('resting bpm')],
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...summaries.map((s) => ({
          label: s.user_id,
          stroke: colours.get(s.user_id) ?? '#000000',
          width: 2,
          points: { show: true, size: 5 },
        })),
      ],
    }),
    // userKey stands for the users and their colours.
    [userKey],
  )
  const restingData = useMemo(
    (): uPlot.AlignedData => [columns.x, ...summaries.map((s) => columns.resting.get(s.user_id) ?? [])],
    [columns, summaries],
  )

  const zonesOptions = useMemo(
    (): Omit<uPlot.Options, 'width' | 'height'> => ({
      ms: 1,
      legend: { show: false },
      scales: { x: dateScale, y: { range: (_u, _min, max) => [0, Math.max(max, 10) * 1.05] } },
      axes: [dateAxis, valueAxis('minutes')],
      cursor: { drag: { x: false, y: false } },
      series: [
        {},
        ...[...ACTIVE_ZONES].reverse().map((name) => ({
          label: name,
          fill: ZONE_COLOURS[name],
          stroke: ZONE_COLOURS[name],
          width: 0,
          ...(bars ? { paths: bars } : {}),
          points: { show: false },
        })),
      ],
    }),
    [],
  )

  const zoneData = useMemo(
    () =>
      new Map(
        summaries.map((s) => {
          const minutes = columns.minutes.get(s.user_id)
          return [s.user_id, minutes ? stackedMinutes(columns.x, minutes) : ([columns.x] as uPlot.AlignedData)]
        }),
      ),
    [columns, summaries],
  )

  const hasResting = [...columns.resting.values()].some((values) => values.some((v) => v !== null))

  return (
    <section className="daily" aria-labelledby="daily-title">
      <h2 id="daily-title">Daily</h2>
      {columns.dates.length === 0 ? (
        <p className="muted">No daily summaries in this range.</p>
      ) : (
        <>
          <h3>Resting heart rate</h3>
          {hasResting ? (
            <UPlotChart options={restingOptions} data={restingData} width={width} height={RESTING_HEIGHT} />
          ) : (
            <p className="muted">No resting heart rate on these days (it needs a night's readings).</p>
          )}
          <h3>
            Minutes per zone <span className="muted">(Fat Burn, Cardio, Peak; per local day)</span>
          </h3>
          <ul className="legend" aria-label="Zones">
            {ACTIVE_ZONES.map((name) => (
              <li key={name}>
                <span className="swatch" style={{ background: ZONE_COLOURS[name] }} aria-hidden="true" />
                {name}
              </li>
            ))}
          </ul>
          {summaries.map((summary) => (
            <figure key={summary.user_id} className="zones-chart">
              <figcaption>
                <span
                  className="swatch"
                  style={{ background: colours.get(summary.user_id) ?? '#000000' }}
                  aria-hidden="true"
                />
                {summary.user_id}
              </figcaption>
              <UPlotChart
                options={zonesOptions}
                data={zoneData.get(summary.user_id) ?? [columns.x]}
                width={width}
                height={ZONES_HEIGHT}
              />
            </figure>
          ))}
          <details>
            <summary>Daily values as a table</summary>
            <div className="table-scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Date</th>
                    <th scope="col">User</th>
                    <th scope="col">Resting bpm</th>
                    {ACTIVE_ZONES.map((name) => (
                      <th scope="col" key={name}>
                        {name} min
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {summaries.flatMap((summary) =>
                    summary.data.map((day) => (
                      <tr key={`${summary.user_id}-${day.date}`}>
                        <td>{day.date}</td>
                        <td>{summary.user_id}</td>
                        <td>{day.resting_heart_rate ?? '–'}</td>
                        {ACTIVE_ZONES.map((name) => (
                          <td key={name}>{day.zones.find((z) => z.name === name)?.minutes ?? '–'}</td>
                        ))}
                      </tr>
                    )),
                  )}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
    </section>
  )
}
