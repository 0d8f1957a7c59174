import { useMemo, useRef, useState } from 'react'
import { ApiError, errorMessage } from '../api/client.ts'
import { storedKey } from '../api/key.ts'
import { KeyPrompt } from '../components/KeyPrompt.tsx'
import { LinkProblems } from '../components/LinkProblems.tsx'
import { StudyControls } from '../components/study/StudyControls.tsx'
import { StudyHeatmap, type PickedCell } from '../components/study/StudyHeatmap.tsx'
import { StudyLegend } from '../components/study/StudyLegend.tsx'
import { StudyStatusList } from '../components/study/StudyStatusList.tsx'
import { useElementWidth } from '../hooks/useElementWidth.ts'
import type { Registry } from '../hooks/useRegistry.ts'
import type { Session } from '../hooks/useSession.ts'
import { useStudyData } from '../hooks/useStudyData.ts'
import { useUrlState } from '../hooks/useUrlState.ts'
import { formatCount } from '../lib/format.ts'
import { describeCell, formatShare } from '../study/describe.ts'
import { explorerDayLink } from '../study/links.ts'
import { buildRows, cohortsOf, filterRows, rowsCsv, sortRows, totalsOf } from '../study/rows.ts'
import { dayCount, dayOf, parseStudyView, resolveStudyRange, serializeStudyView, type StudyView } from '../study/view.ts'

const ROW_HEIGHT = 18
const PHONE_ROW_HEIGHT = 22 // a finger needs a taller row
const PHONE_WIDTH = 600
// The tooltip's width (.cell-tip, 15rem) and its distance from the pointer, in CSS pixels.
const TIP_WIDTH = 240
const TIP_OFFSET = 12
// The explorer, where a cell leads: the app's own root (the Study page is /app/study).
const EXPLORER_PATH = window.location.pathname.replace(/study\/?$/, '')

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }))
  const link = document.createElement('a')
  link.href = url
  link.download = name
  link.click()
  URL.revokeObjectURL(url)
}

/** Participants x local days: who is wearing, syncing and connected, with the flags, for a study team. */
export function StudyPage({ session, registry }: { session: Session; registry: Registry }) {
  const { view, problems, setView } = useUrlState<StudyView>(parseStudyView, serializeStudyView)
  const [today] = useState(() => dayOf(Date.now()))
  const [hover, setHover] = useState<PickedCell | null>(null)
  const box = useRef<HTMLDivElement>(null)
  const width = useElementWidth(box)
  const section = useRef<HTMLElement>(null)
  const sectionWidth = useElementWidth(section)
  const phone = sectionWidth > 0 && sectionWidth < PHONE_WIDTH

  const limits = registry.limits.data
  const range = useMemo(() => resolveStudyRange(view.range, today), [view.range, today])
  const tooLong = limits !== null && dayCount(range) > limits.max_compliance_days
  // Asked at once, not after /limits: a range the API refuses gets its own message back meanwhile.
  const asked = tooLong ? null : range
  const { grid, gridKey, statuses } = useStudyData(asked, session.attempt)

  const compliance = grid.dataKey === gridKey ? grid.data : null
  const status = statuses.data
  const allRows = useMemo(
    () => (compliance ? buildRows(compliance, status?.participants ?? []) : []),
    [compliance, status],
  )
  const shown = useMemo(
    () => sortRows(filterRows(allRows, view), view.sort, view.descending),
    [allRows, view],
  )
  const totals = useMemo(() => totalsOf(shown), [shown])
  const cohorts = useMemo(() => cohortsOf(allRows), [allRows])
  const timeZones = useMemo(
    () => new Map((status?.participants ?? []).map((p) => [p.user_id, p.timezone])),
    [status],
  )

  const update = (change: Partial<StudyView>) => setView((previous) => ({ ...previous, ...change }))
  const errors = [registry.limits.error, grid.error, statuses.error]
  const unauthorized = errors.find((e): e is ApiError => e instanceof ApiError && e.status === 401)
  const failed = grid.error ?? statuses.error
  const state = failed ? 'error' : compliance === null ? 'loading' : 'ready'
  const validDayMinutes = compliance?.valid_day_minutes ?? status?.valid_day_minutes ?? 0
  const flagDays = { noValidDay: status?.flag_no_valid_day_days ?? 0, noData: status?.flag_no_data_days ?? 0 }
  const rowHeight = phone ? PHONE_ROW_HEIGHT : ROW_HEIGHT

  const open = (cell: PickedCell, pointer: string) => {
    if (pointer !== 'mouse') {
      setHover(cell) // a tap shows the figures, with a link to open the day
      return
    }
    const day = compliance?.days[cell.dayIndex]
    if (day) window.location.assign(explorerDayLink(EXPLORER_PATH, cell.row.userId, day, timeZones.get(cell.row.userId) ?? 'UTC'))
  }
  const hoverDay = hover ? compliance?.days[hover.dayIndex] : undefined

  return (
    <>
      <LinkProblems problems={problems} />
      {unauthorized ? (
        <KeyPrompt detail={unauthorized.detail} hadKey={storedKey() !== null} onKey={session.enterKey} />
      ) : null}

      <StudyControls
        view={view}
        range={range}
        cohorts={cohorts}
        onChange={update}
        onDownload={() => {
          if (!compliance) return
          const parts = [range.start, range.end, view.cohort, view.flaggedOnly ? 'flagged' : null].filter(Boolean)
          download(`study_${parts.join('_')}.csv`, rowsCsv(shown, compliance.days))
        }}
        canDownload={compliance !== null && shown.length > 0}
        hidden={unauthorized !== undefined}
      />

      {tooLong && (
        <div className="error" role="alert">
          <p>
            {formatCount(dayCount(range))} days asked for; the API draws at most{' '}
            {formatCount(limits?.max_compliance_days ?? 0)} at once: pick a shorter range.
          </p>
        </div>
      )}

      <section
        ref={section}
        className="study"
        aria-labelledby="study-title"
        hidden={unauthorized !== undefined}
        data-state={state}
        data-start={range.start}
        data-end={range.end}
      >
        <div className="study-head">
          <h2 id="study-title">
            Wear and compliance{' '}
            <span className="muted">
              {range.start} – {range.end}
            </span>
          </h2>
          <p className="totals" aria-label="Totals">
            <strong>{formatCount(totals.participants)}</strong> participants shown ·{' '}
            <strong>{formatCount(totals.flagged)}</strong> flagged ·{' '}
            <strong>{formatShare(totals.validShare)}</strong> of {formatCount(totals.dueDays)} due days valid (
            {formatCount(totals.validDays)}) · <strong>{formatCount(totals.noDataDays)}</strong> due days without data
          </p>
          <StudyLegend validDayMinutes={validDayMinutes} />
        </div>

        {failed ? (
          <div className="error" role="alert">
            <p>{errorMessage(failed)}</p>
            <button type="button" onClick={session.retry}>
              Retry
            </button>
          </div>
        ) : state === 'loading' ? (
          <p className="study-message">Loading the study…</p>
        ) : shown.length === 0 ? (
          <p className="study-message">
            {view.flaggedOnly ? 'No flagged participants.' : 'No participants this key may read in this cohort.'}
          </p>
        ) : null}

        <div className="study-grid" hidden={shown.length === 0 || compliance === null}>
          <StudyStatusList rows={shown} rowHeight={rowHeight} flagDays={flagDays} compact={phone} />
          <div className="heatmap-box" ref={box}>
            {compliance && (
              <StudyHeatmap
                rows={shown}
                days={compliance.days}
                validDayMinutes={validDayMinutes}
                width={width}
                rowHeight={rowHeight}
                onHover={setHover}
                onPick={open}
              />
            )}
            {hover && hoverDay && (
              <div
                className="cell-tip"
                role="tooltip"
                // Right of the pointer, or left of it near the right edge (over the status column on a phone).
                style={{ left: Math.min(hover.x + TIP_OFFSET, width - TIP_WIDTH), top: hover.y + TIP_OFFSET }}
              >
                <strong>
                  {hover.row.userId} · {hoverDay}
                </strong>
                <span>{describeCell(hover.row, hover.dayIndex, hoverDay, validDayMinutes)}</span>
                <a href={explorerDayLink(EXPLORER_PATH, hover.row.userId, hoverDay, timeZones.get(hover.row.userId) ?? 'UTC')}>
                  Open this day
                </a>
              </div>
            )}
          </div>
        </div>
      </section>
    </>
  )
}
