import { useMemo, useRef, useState } from 'react'
import { ApiError, errorMessage } from '../api/client.ts'
import { storedKey } from '../api/key.ts'
import { DailyPanel } from '../components/DailyPanel.tsx'
import { DetailChart } from '../components/DetailChart.tsx'
import { DisplayOptions, type ZoneChoice } from '../components/DisplayOptions.tsx'
import { KeyPrompt } from '../components/KeyPrompt.tsx'
import { Legend } from '../components/Legend.tsx'
import { LinkProblems } from '../components/LinkProblems.tsx'
import { Overview } from '../components/Overview.tsx'
import { RangePicker } from '../components/RangePicker.tsx'
import { UserPicker } from '../components/UserPicker.tsx'
import { useElementWidth } from '../hooks/useElementWidth.ts'
import { useChartSeries, useDailySummaries, useUserDetails } from '../hooks/useExplorerData.ts'
import type { Registry } from '../hooks/useRegistry.ts'
import type { Session } from '../hooks/useSession.ts'
import { useViewActions } from '../hooks/useViewActions.ts'
import { useViewState } from '../hooks/useViewState.ts'
import { assignColours } from '../lib/colours.ts'
import { zoneBands } from '../lib/daily.ts'
import { formatCount, formatDuration, formatInstantShort } from '../lib/format.ts'
import { RESOLUTION_LABEL } from '../lib/series.ts'
import { browserTimeZone, offsetName } from '../lib/time.ts'
import { PRESETS, resolvePreset } from '../state/presets.ts'
import { ZONES_OFF, limitUsers } from '../state/view.ts'
import { clampWindow } from '../state/zoom.ts'

const CHART_HEIGHT = 320
const PHONE_CHART_HEIGHT = 240
const PHONE_WIDTH = 600
// The narrowest plot drawn while the chart's width is still unknown.
const MIN_CHART_WIDTH = 200

/** The explorer: picked users' heart rate over a range, zoomable, with the daily panel below. */
export function ExplorerPage({ session, registry }: { session: Session; registry: Registry }) {
  const { attempt, retry } = session
  const { view, problems, setView } = useViewState()
  const [now, setNow] = useState(() => Date.now())
  const [cursor, setCursor] = useState<number | null>(null)
  const chartBox = useRef<HTMLDivElement>(null)
  const boxWidth = useElementWidth(chartBox)
  const chartWidth = Math.max(boxWidth, MIN_CHART_WIDTH)

  const limits = registry.limits.data
  const allUsers = registry.users.data?.users ?? []
  const linked = useMemo(() => limitUsers(view.users, limits?.max_users ?? Infinity), [view.users, limits])
  const selected = useMemo(
    () => (linked.users.length ? linked.users : allUsers.slice(0, 1)),
    [linked.users, allUsers],
  )
  const colours = useMemo(() => assignColours(selected), [selected])
  const { query: detailsQuery, details, extent } = useUserDetails(selected, attempt)

  const preset = 'preset' in view.range ? view.range.preset : null
  const range = useMemo(
    () => ('custom' in view.range ? view.range.custom : resolvePreset(view.range.preset, extent, now)),
    [view.range, extent, now],
  )
  const zoom = useMemo(() => (view.zoom ? clampWindow(view.zoom, range) : null), [view.zoom, range])
  const visible = zoom ?? range

  const userTimeZone = details?.[0]?.timezone ?? null
  const timeZone = view.timeZone ?? userTimeZone ?? browserTimeZone()
  const ready = details !== null && boxWidth > 0 && limits !== null
  const chart = useChartSeries({
    selected,
    range,
    visible,
    width: chartWidth,
    maxPoints: limits?.max_points ?? 0,
    ready,
    attempt,
  })
  const { query: summaryQuery, summaries } = useDailySummaries(details, range, ready, attempt)
  const zonesOf = view.zones ?? selected[0] ?? ZONES_OFF
  const bands = useMemo(
    () => (zonesOf === ZONES_OFF ? [] : zoneBands(summaries.find((s) => s.user_id === zonesOf)?.data ?? [])),
    [summaries, zonesOf],
  )
  const actions = useViewActions(setView, { range, zoom, visible }, () => setNow(Date.now()))

  // The first 401 from any query asks for a key; other errors are shown where they happened.
  const { series: seriesQuery, overview: overviewQuery } = chart
  const errors = [
    registry.limits.error,
    registry.users.error,
    detailsQuery.error,
    seriesQuery.error,
    overviewQuery.error,
    summaryQuery.error,
  ]
  const unauthorized = errors.find((e): e is ApiError => e instanceof ApiError && e.status === 401)
  const setupError = registry.users.error ?? registry.limits.error ?? detailsQuery.error
  const noUsers = registry.users.data !== null && registry.users.data.users.length === 0
  // Without a key, or without users to show, the chart has nothing to say (hidden, not unmounted,
  // so that its width is measured as soon as it shows).
  const chartHidden = unauthorized !== undefined || setupError !== null || noUsers

  const timeZones = useMemo((): ZoneChoice[] => {
    const choices: ZoneChoice[] = (details ?? []).map((d) => ({ timeZone: d.timezone, label: `${d.timezone} (${d.user_id})` }))
    const browser = browserTimeZone()
    choices.push({ timeZone: browser, label: `${browser} (this browser)` })
    if (browser !== 'UTC') choices.push({ timeZone: 'UTC', label: 'UTC' })
    if (!choices.some((c) => c.timeZone === timeZone)) choices.push({ timeZone, label: `${timeZone} (from the link)` })
    return choices
  }, [details, timeZone])

  const series = seriesQuery.data
  const info = series?.metadata.query_info
  const shownUsers = series?.data.map((entry) => entry.user_id) ?? []
  const empty = series !== null && series.data.every((entry) => entry.count === 0)
  const stale = seriesQuery.dataKey !== chart.seriesKey
  const chartState = seriesQuery.error ? 'error' : series === null ? 'loading' : stale ? 'updating' : empty ? 'empty' : 'ready'
  const phone = boxWidth > 0 && boxWidth < PHONE_WIDTH
  // What the overview strip and the detail chart are both given.
  const shared = { colours, timeZone, width: chartWidth, onZoom: actions.onZoom }
  const { update } = actions

  return (
    <>
      <LinkProblems problems={linked.problem ? [...problems, linked.problem] : problems} />

      {unauthorized ? (
        <KeyPrompt detail={unauthorized.detail} hadKey={storedKey() !== null} onKey={session.enterKey} />
      ) : setupError ? (
        <div className="error" role="alert">
          <p>{errorMessage(setupError)}</p>
          <button type="button" onClick={retry}>
            Retry
          </button>
        </div>
      ) : noUsers ? (
        <div className="notice" role="status">
          <p>
            No users in the registry yet: add one with <code>hr users add</code> and load days with{' '}
            <code>hr backfill</code>.
          </p>
        </div>
      ) : null}

      <section className="controls" aria-label="What to show" hidden={unauthorized !== undefined}>
        <UserPicker
          allUsers={allUsers}
          selected={selected}
          maxUsers={limits?.max_users ?? selected.length}
          colours={colours}
          onChange={(users) => update({ users, zones: view.zones && users.includes(view.zones) ? view.zones : null })}
        />
        <RangePicker
          preset={preset}
          range={range}
          timeZone={timeZone}
          onPreset={actions.onPreset}
          onCustom={(custom) => update({ range: { custom }, zoom: null })}
        />
        <DisplayOptions
          timeZones={timeZones}
          timeZone={timeZone}
          onTimeZone={(tz) => update({ timeZone: tz === userTimeZone ? null : tz })}
          users={selected}
          zonesOf={zonesOf}
          onZones={(user) => update({ zones: user === selected[0] ? null : user })}
        />
      </section>

      <section className="chart-section" aria-labelledby="chart-title" hidden={chartHidden}>
        <div className="chart-head">
          <h2 id="chart-title">
            {preset && !zoom ? PRESETS[preset].label : formatDuration(visible.end - visible.start)}
            <span className="muted">
              {' '}
              {formatInstantShort(visible.start, timeZone)} – {formatInstantShort(visible.end, timeZone)}
            </span>
          </h2>
          <p className="muted">
            Times in <strong>{timeZone}</strong> ({offsetName(visible.end, timeZone)})
            {preset && extent && ' · presets end at the newest reading'}
          </p>
        </div>

        <div className="toolbar" role="toolbar" aria-label="Zoom and pan">
          <button type="button" onClick={() => actions.onPan(-1)} aria-label="Pan earlier">
            ◀ Earlier
          </button>
          <button type="button" onClick={() => actions.onPan(1)} aria-label="Pan later">
            Later ▶
          </button>
          <button type="button" onClick={actions.onZoomOut} disabled={!zoom}>
            Zoom out
          </button>
          <button type="button" onClick={actions.onResetZoom} disabled={!zoom}>
            Reset zoom
          </button>
          <output className="status" aria-live="polite" data-resolution={stale ? '' : (info?.interval ?? '')}>
            {info && !stale
              ? `${RESOLUTION_LABEL[info.interval]} · ${formatCount(info.point_count)} points`
              : chartState === 'error'
                ? 'Failed'
                : 'Loading…'}
          </output>
        </div>

        {chart.overviewAligned && overviewQuery.data && (
          <div className="overview" aria-label="Whole range; drag to zoom">
            <Overview
              data={chart.overviewAligned}
              userIds={overviewQuery.data.data.map((entry) => entry.user_id)}
              range={range}
              zoom={zoom}
              {...shared}
            />
          </div>
        )}

        <div
          ref={chartBox}
          className="chart"
          data-state={chartState}
          tabIndex={0}
          role="group"
          aria-label="Heart-rate chart: drag or pinch to zoom, arrow keys pan, + and - zoom, Escape resets"
          onKeyDown={actions.onChartKey}
        >
          {chart.aligned && series && (
            <DetailChart
              data={chart.aligned}
              userIds={shownUsers}
              window={visible}
              zoneBands={bands}
              {...shared}
              height={phone ? PHONE_CHART_HEIGHT : CHART_HEIGHT}
              dataKey={seriesQuery.dataKey ?? ''}
              onCursor={setCursor}
            />
          )}
          {chartState === 'error' ? (
            <div className="chart-message error" role="alert">
              <p>{errorMessage(seriesQuery.error)}</p>
              <button type="button" onClick={retry}>
                Retry
              </button>
            </div>
          ) : chartState === 'loading' ? (
            <p className="chart-message">Loading heart rate…</p>
          ) : chartState === 'empty' ? (
            <p className="chart-message">No readings in this range.</p>
          ) : null}
        </div>
        {chart.aligned && series && (
          <Legend
            userIds={shownUsers}
            colours={colours}
            data={chart.aligned}
            index={cursor}
            resolution={info?.interval ?? '1m'}
            timeZone={timeZone}
          />
        )}
      </section>

      {chartHidden ? null : summaryQuery.error ? (
        <div className="error" role="alert">
          <p>Daily summaries: {errorMessage(summaryQuery.error)}</p>
        </div>
      ) : summaryQuery.data ? (
        <DailyPanel summaries={summaries} colours={colours} width={chartWidth} />
      ) : null}
    </>
  )
}
