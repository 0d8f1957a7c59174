import type uPlot from 'uplot'
import type { Resolution } from '../api/types.ts'
import { formatPoint, formatTime } from '../lib/format.ts'

interface Props {
  userIds: string[]
  colours: Map<string, string>
  data: uPlot.AlignedData
  /** Index into data under the cursor, or null for none. */
  index: number | null
  resolution: Resolution
  timeZone: string
}

/** Who is which colour, and the values under the cursor (average and min–max band). */
export function Legend({ userIds, colours, data, index, resolution, timeZone }: Props) {
  const time = index === null ? undefined : data[0][index]
  return (
    <div className="legend-row">
      <ul className="legend" aria-label="Users on the chart">
        {userIds.map((id, i) => {
          const at = (column: number) => (index === null ? undefined : data[column]?.[index])
          return (
            <li key={id}>
              <span className="swatch" style={{ background: colours.get(id) ?? '#000000' }} aria-hidden="true" />
              <span>{id}</span>
              {index !== null && (
                <span className="legend-value">
                  {formatPoint({ avg: at(1 + i * 3), min: at(2 + i * 3), max: at(3 + i * 3) }, resolution)}
                </span>
              )}
            </li>
          )
        })}
      </ul>
      <span className="legend-time">{time === undefined ? '\u00a0' : formatTime(time, timeZone, resolution)}</span>
    </div>
  )
}
