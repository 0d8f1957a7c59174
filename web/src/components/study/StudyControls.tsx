import { useEffect, useState } from 'react'
import { STUDY_RANGES, STUDY_SORTS, isDay, type DayRange, type StudyRangeId, type StudySort, type StudyView } from '../../study/view.ts'

interface Props {
  view: StudyView
  range: DayRange
  cohorts: string[]
  onChange: (change: Partial<StudyView>) => void
  onDownload: () => void
  canDownload: boolean
  hidden: boolean
}

const RANGE_LABEL: Record<StudyRangeId, string> = { '30d': '30 d', '90d': '90 d', '1y': '1 y', '2y': '2 y' }
const SORT_LABEL: Record<StudySort, string> = {
  compliance: 'Compliance (lowest first)',
  newest: 'Newest reading (stalest first)',
  id: 'Participant id',
}

/** Range (presets ending yesterday, or two days), cohort, "flagged only", sort order and the CSV download. */
export function StudyControls({ view, range, cohorts, onChange, onDownload, canDownload, hidden }: Props) {
  const preset = 'preset' in view.range ? view.range.preset : null
  const [start, setStart] = useState(range.start)
  const [end, setEnd] = useState(range.end)
  // The inputs follow the range shown (a preset, Back) until edited again.
  useEffect(() => {
    setStart(range.start)
    setEnd(range.end)
  }, [range.start, range.end])
  const customValid = isDay(start) && isDay(end) && start <= end

  return (
    <section className="controls study-controls" aria-label="What to show" hidden={hidden}>
      <fieldset className="control">
        <legend>Days</legend>
        <div className="presets" role="group" aria-label="Range presets">
          {(Object.keys(STUDY_RANGES) as StudyRangeId[]).map((id) => (
            <button
              key={id}
              type="button"
              aria-pressed={preset === id}
              title={`The last ${STUDY_RANGES[id]} complete days`}
              onClick={() => onChange({ range: { preset: id } })}
            >
              {RANGE_LABEL[id]}
            </button>
          ))}
        </div>
        <form
          className="day-range"
          onSubmit={(event) => {
            event.preventDefault()
            if (customValid) onChange({ range: { custom: { start, end } } })
          }}
        >
          <label>
            From <input type="date" value={start} onChange={(event) => setStart(event.target.value)} />
          </label>
          <label>
            To <input type="date" value={end} onChange={(event) => setEnd(event.target.value)} />
          </label>
          <button type="submit" disabled={!customValid}>
            Show
          </button>
        </form>
      </fieldset>

      <fieldset className="control">
        <legend>Participants</legend>
        <label>
          Cohort{' '}
          <select value={view.cohort ?? ''} onChange={(event) => onChange({ cohort: event.target.value || null })}>
            <option value="">All cohorts</option>
            {[...new Set([...cohorts, ...(view.cohort ? [view.cohort] : [])])].map((cohort) => (
              <option key={cohort} value={cohort}>
                {cohort}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={view.flaggedOnly}
            onChange={(event) => onChange({ flaggedOnly: event.target.checked })}
          />{' '}
          Flagged only
        </label>
      </fieldset>

      <fieldset className="control">
        <legend>Order</legend>
        <label>
          Sort by{' '}
          <select value={view.sort} onChange={(event) => onChange({ sort: event.target.value as StudySort })}>
            {STUDY_SORTS.map((sort) => (
              <option key={sort} value={sort}>
                {SORT_LABEL[sort]}
              </option>
            ))}
          </select>
        </label>
        <button type="button" aria-pressed={view.descending} onClick={() => onChange({ descending: !view.descending })}>
          Reverse
        </button>
        <button type="button" onClick={onDownload} disabled={!canDownload}>
          Download CSV
        </button>
      </fieldset>
    </section>
  )
}
