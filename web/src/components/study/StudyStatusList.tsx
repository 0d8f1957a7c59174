import { FLAG_BADGE, flagLabel, formatShare } from '../../study/describe.ts'
import type { StudyRow } from '../../study/rows.ts'

interface Props {
  rows: StudyRow[]
  rowHeight: number
  flagDays: { noValidDay: number; noData: number }
  /** A phone: the id and the flags only. */
  compact: boolean
}

function newest(row: StudyRow): string {
  const days = row.status?.days_since_reading
  if (!row.status?.newest_reading || days === null || days === undefined) return 'no reading'
  return days === 0 ? 'today' : `${days} d ago`
}

/** One line per participant, level with the heatmap's rows: id, compliance, newest reading, flags. */
export function StudyStatusList({ rows, rowHeight, flagDays, compact }: Props) {
  return (
    <ol className="study-status" aria-label="Participants" style={{ gridAutoRows: `${rowHeight}px` }}>
      {rows.map((row) => (
        <li key={row.userId} data-user={row.userId} data-flags={row.status?.flags.join(' ') ?? ''}>
          <span className="participant" title={row.cohort ? `cohort ${row.cohort}` : 'no cohort'}>
            {row.userId}
          </span>
          {!compact && (
            <>
              <span className="compliance" title={`${row.compliance.valid} valid of ${row.compliance.due} due days`}>
                {formatShare(row.compliance.share)}
              </span>
              <span className="newest">{newest(row)}</span>
            </>
          )}
          <span className="flags">
            {row.status?.flags.map((flag) => (
              <span key={flag} className="flag" title={flagLabel(flag, flagDays)}>
                {compact ? '!' : FLAG_BADGE[flag]}
              </span>
            ))}
          </span>
        </li>
      ))}
    </ol>
  )
}
