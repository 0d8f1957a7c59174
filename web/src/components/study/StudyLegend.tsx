import { CELL_COLOURS, cssColour } from '../../study/cells.ts'

/** What the heatmap's colours mean, with the study's valid-day rule. */
export function StudyLegend({ validDayMinutes }: { validDayMinutes: number }) {
  const hours = Math.round((validDayMinutes / 60) * 10) / 10
  const entries = [
    { label: `valid (≥ ${hours} h worn), darker = more`, from: CELL_COLOURS.validFrom, to: CELL_COLOURS.validTo },
    { label: `not valid (< ${hours} h), darker = more`, from: CELL_COLOURS.invalidFrom, to: CELL_COLOURS.invalidTo },
    { label: 'no data (due, nothing loaded)', from: CELL_COLOURS.noData, to: CELL_COLOURS.noData },
    { label: 'not due (before the start, not yet complete)', from: CELL_COLOURS.notDue, to: CELL_COLOURS.notDue },
  ]
  return (
    <ul className="study-legend" aria-label="Colours">
      {entries.map(({ label, from, to }) => (
        <li key={label}>
          <span
            className="legend-swatch"
            aria-hidden="true"
            style={{ background: `linear-gradient(to right, ${cssColour(from)}, ${cssColour(to)})` }}
          />
          {label}
        </li>
      ))}
    </ul>
  )
}
