import { useEffect, useState, type FormEvent } from 'react'
import { fromWallInput, toWallInput } from '../lib/time.ts'
import { PRESETS, PRESET_IDS, type PresetId, type TimeWindow } from '../state/presets.ts'

interface Props {
  preset: PresetId | null
  range: TimeWindow
  timeZone: string
  onPreset: (preset: PresetId) => void
  onCustom: (range: TimeWindow) => void
}

const SHORT_LABEL: Record<PresetId, string> = {
  '1h': '1 h',
  '24h': '24 h',
  '7d': '7 d',
  '30d': '30 d',
  '90d': '90 d',
  '1y': '1 y',
  all: 'All',
}

/** Presets as a row of toggle buttons, and a custom start and end in the shown time zone. */
export function RangePicker({ preset, range, timeZone, onPreset, onCustom }: Props) {
  const [start, setStart] = useState(() => toWallInput(range.start, timeZone))
  const [end, setEnd] = useState(() => toWallInput(range.end, timeZone))
  const [problem, setProblem] = useState<string | null>(null)

  // The inputs follow the range shown (a preset, a pan, another time zone) until edited again.
  useEffect(() => {
    setStart(toWallInput(range.start, timeZone))
    setEnd(toWallInput(range.end, timeZone))
    setProblem(null)
  }, [range.start, range.end, timeZone])

  const apply = (event: FormEvent) => {
    event.preventDefault()
    const from = fromWallInput(start, timeZone)
    const to = fromWallInput(end, timeZone)
    if (from === null || to === null) setProblem(`${from === null ? 'From' : 'To'}: not a date and time`)
    else if (to <= from) setProblem('To must be after From')
    else {
      setProblem(null)
      onCustom({ start: from, end: to })
    }
  }

  return (
    <fieldset className="control range">
      <legend>Range</legend>
      <div className="presets" role="group" aria-label="Range presets">
        {PRESET_IDS.map((id) => (
          <button
            key={id}
            type="button"
            aria-pressed={preset === id}
            aria-label={PRESETS[id].label}
            title={PRESETS[id].label}
            onClick={() => onPreset(id)}
          >
            {SHORT_LABEL[id]}
          </button>
        ))}
      </div>
      <details className="custom-range" open={preset === null}>
        <summary>Custom range</summary>
        <form onSubmit={apply} noValidate>
          <label>
            From
            <input type="datetime-local" value={start} onChange={(event) => setStart(event.target.value)} />
          </label>
          <label>
            To
            <input type="datetime-local" value={end} onChange={(event) => setEnd(event.target.value)} />
          </label>
          <button type="submit">Apply</button>
          {problem && (
            <p className="field-error" role="alert">
              {problem}
            </p>
          )}
        </form>
      </details>
    </fieldset>
  )
}
