import { useCallback, useMemo, useRef, useState, type KeyboardEvent } from 'react'
import { ApiError, createClient } from './api/client.ts'
import { storeKey, storedKey } from './api/key.ts'
import type { MultiTimeseriesResponse, SummaryResponse, UserDetail } from './api/types.ts'
import { DailyPanel } from './components/DailyPanel.tsx'
import { DetailChart } from './components/DetailChart.tsx'
import { DisplayOptions, type ZoneChoice } from './components/DisplayOptions.tsx'
import { KeyPrompt } from './components/KeyPrompt.tsx'
import { Legend } from './components/Legend.tsx'
import { Overview } from './components/Overview.tsx'
import { RangePicker } from './components/RangePicker.tsx'
import { UserPicker } from './components/UserPicker.tsx'
import { useElementWidth } from './hooks/useElementWidth.ts'
import { useQuery } from './hooks/useQuery.ts'
import { useViewState } from './hooks/useViewState.ts'
import { assignColours } from './lib/colours.ts'
import { zoneBands } from './lib/daily.ts'
import { formatCount, formatDuration, formatInstantShort } from './lib/format.ts'
import { RESOLUTION_LABEL, alignUsers } from './lib/series.ts'
import { browserTimeZone, localDate, offsetName } from './lib/time.ts'
import { PRESETS, resolvePreset, type DataExtent, type PresetId, type TimeWindow } from './state/presets.ts'
import { ZONES_OFF, type ViewState } from './state/view.ts'
import { clampWindow, pan, zoomOut, zoomTo } from './state/zoom.ts'

const client = createClient({ key: storedKey })

// Points asked for per pixel of plot width and user: two keep peaks visible without waste.
const POINTS_PER_PIXEL = 2
// The overview strip needs far fewer.
const OVERVIEW_POINTS_PER_PIXEL = 0.5
// Widths are rounded to this many points so that a small resize does not re-query.
const POINTS_STEP = 250
// The API's max_points limit.
const API_MAX_POINTS = 20_000
const CHART_HEIGHT = 320
const PHONE_CHART_HEIGHT = 240
const PHONE_WIDTH = 600
const UNBOUNDED: TimeWindow = { start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY }

function pointBudget(width: number, perPixel: number, users: number): number {
  const perUser = Math.max(POINTS_STEP, Math.ceil((width * perPixel) / POINTS_STEP) * POINTS_STEP)
  return Math.min(API_MAX_POINTS, perUser * Math.max(users, 1))
}

function extentOf(details: UserDetail[] | null): DataExtent {
  const firsts = (details ?? []).flatMap((d) => (d.first_reading ? [Date.parse(d.first_reading)] : []))
  const lasts = (details ?? []).flatMap((d) => (d.last_reading ? [Date.parse(d.last_reading)] : []))
  return firsts.length && lasts.length ? { start: Math.min(...firsts), end: Math.max(...lasts) } : null
}

/** A /multi-user/timeseries request: its query key and the task that asks it. */
function timeseriesRequest(kind: string, userIds: string[], window: TimeWindow, maxPoints: number) {
  return {
    key: `${kind}:${userIds.join(',')}|${window.start}|${window.end}|${maxPoints}`,
    task: (signal: AbortSignal) =>
      client.multiTimeseries({ userIds, start: window.start, end: window.end, maxPoints }, signal),
  }
}

/** The current answer of a query, or null while it answers an older key. */
function current<T>(query: { data: T | null; dataKey: string | null }, key: string | null): T | null {
  return key !== null && query.dataKey === key ? query.data : null
}

export function App() {
  const { view, problems, setView } = useViewState()
  // Bumped by a new key or Retry: part of every query key, so everything asks again.
  const [attempt, setAttempt] = useState(0)
  const [now, setNow] = useState(() => Date.now())
  const [cursor, setCursor] = useState<number | null>(null)
  const chartBox = useRef<HTMLDivElement>(null)
  const boxWidth = useElementWidth(chartBox)
  const chartWidth = Math.max(boxWidth, 200)

  const usersKey = `users#${attempt}`
  const usersQuery = useQuery(usersKey, (signal) => client.users(signal))
  const allUsers = usersQuery.data?.users ?? []
  const selected = useMemo(
    () => (view.users.length ? view.users : allUsers.slice(0, 1)),
    [view.users, allUsers],
  )
  const colours = useMemo(() => assignColours(selected), [selected])

  const detailsKey = selected.length ? `details:${selected.join(',')}#${attempt}` : null
  const detailsQuery = useQuery(detailsKey, (signal) => Promise.all(selected.map((id) => client.user(id, signal))))
  const details = current(detailsQuery, detailsKey)
  const extent = useMemo(() => extentOf(details), [details])

  const preset = 'preset' in view.range ? view.range.preset : null
  const range = useMemo(
    () => ('custom' in view.range ? view.range.custom : resolvePreset(view.range.preset, extent, now)),
    [view.range, extent, now],
  )
  const zoom = useMemo(() => (view.zoom ? clampWindow(view.zoom, range) : null), [view.zoom, range])
  const visible = zoom ?? range

  const userTimeZone = details?.[0]?.timezone ?? null
  const timeZone = view.timeZone ?? userTimeZone ?? browserTimeZone()
  const ready = details !== null && boxWidth > 0

  const detail = timeseriesRequest('ts', selected, visible, pointBudget(chartWidth, POINTS_PER_PIXEL, selected.length))
  const seriesKey = ready ? `${detail.key}#${attempt}` : null
  const seriesQuery = useQuery(seriesKey, detail.task)
  const whole = timeseriesRequest('ov', selected, range, pointBudget(chartWidth, OVERVIEW_POINTS_PER_PIXEL, selected.length))
  const overviewQuery = useQuery(ready ? `${whole.key}#${attempt}` : null, whole.task)
  // Each user's own local days: a day's summary belongs to the user's calendar.
  const summaryDays = (details ?? []).map((d) => ({
    userId: d.user_id,
    startDate: localDate(range.start, d.timezone),
    endDate: localDate(range.end - 1, d.timezone),
  }))
  const summaryKey = ready
    ? `sum:${summaryDays.map((d) => `${d.userId}/${d.startDate}/${d.endDate}`).join(',')}#${attempt}`
    : null
  const summaryQuery = useQuery(summaryKey, (signal) =>
    Promise.all(summaryDays.map((days) => client.summary(days, signal))),
  )

  const series = seriesQuery.data
  const aligned = useMemo(() => seriesData(series), [series])
  const overview = useMemo(() => seriesData(overviewQuery.data), [overviewQuery.data])
  const summaries: SummaryResponse[] = summaryQuery.data ?? []
  const zonesOf = view.zones ?? selected[0] ?? ZONES_OFF
  const bands = useMemo(
    () => (zonesOf === ZONES_OFF ? [] : zoneBands(summaries.find((s) => s.user_id === zonesOf)?.data ?? [])),
    [summaries, zonesOf],
  )

  const update = useCallback(
    (change: Partial<ViewState>) => setView((previous) => ({ ...previous, ...change })),
    [setView],
  )
  const onZoom = useCallback(
    (start: number, end: number) => update({ zoom: zoomTo(start, end, range) }),
    [update, range],
  )
  const onPan = (direction: -1 | 1) => {
    if (zoom) update({ zoom: pan(zoom, range, direction) })
    else update({ range: { custom: pan(range, UNBOUNDED, direction) }, zoom: null })
  }
  const onPreset = (id: PresetId) => {
    setNow(Date.now())
    update({ range: { preset: id }, zoom: null })
  }
  const onChartKey = (event: KeyboardEvent) => {
    const width = visible.end - visible.start
    const actions: Record<string, () => void> = {
      ArrowLeft: () => onPan(-1),
      ArrowRight: () => onPan(1),
      '+': () => onZoom(visible.start + width / 4, visible.end - width / 4),
      '=': () => onZoom(visible.start + width / 4, visible.end - width / 4),
      '-': () => update({ zoom: zoomOut(zoom, range) }),
      Escape: () => update({ zoom: null }),
    }
    const action = actions[event.key]
    if (action) {
      event.preventDefault()
      action()
    }
  }

  // The first 401 from any query asks for a key; other errors are shown where they happened.
  const errors = [usersQuery.error, detailsQuery.error, seriesQuery.error, overviewQuery.error, summaryQuery.error]
  const unauthorized = errors.find((e): e is ApiError => e instanceof ApiError && e.status === 401)
  const message = (error: unknown) => (error instanceof ApiError ? error.detail : String(error))
  const setupError = usersQuery.error ?? detailsQuery.error
  const noUsers = usersQuery.data !== null && usersQuery.data.users.length === 0
  // Without a key, or without users to show, the chart has nothing to say (hidden, not unmounted,
  // so that its width is measured as soon as it shows).
  const chartHidden = unauthorized !== undefined || setupError !== null || noUsers
  const retry = () => setAttempt((n) => n + 1)

  const timeZones = useMemo((): ZoneChoice[] => {
    const choices: ZoneChoice[] = (details ?? []).map((d) => ({ timeZone: d.timezone, label: `${d.timezone} (${d.user_id})` }))
    const browser = browserTimeZone()
    choices.push({ timeZone: browser, label: `${browser} (this browser)` })
    if (browser !== 'UTC') choices.push({ timeZone: 'UTC', label: 'UTC' })
    if (!choices.some((c) => c.timeZone === timeZone)) choices.push({ timeZone, label: `${timeZone} (from the link)` })
    return choices
  }, [details, timeZone])

  const info = series?.metadata.query_info
  const shownUsers = series?.data.map((entry) => entry.user_id) ?? []
  const empty = series !== null && series.data.every((entry) => entry.count === 0)
  const stale = seriesQuery.dataKey !== seriesKey
  const chartState = seriesQuery.error ? 'error' : series === null ? 'loading' : stale ? 'updating' : empty ? 'empty' : 'ready'
  const phone = boxWidth > 0 && boxWidth < PHONE_WIDTH
  // What the overview strip and the detail chart are both given.
  const shared = { colours, timeZone, width: chartWidth, onZoom }

  return (
    <div className="app">
      <header className="top">
        <h1>Heart rate</h1>
        <p className="muted">
          {usersQuery.data
            ? `${formatCount(usersQuery.data.total_count)} ${usersQuery.data.total_count === 1 ? 'user' : 'users'} in the registry`
            : 'hr-pipeline'}
        </p>
      </header>

      {problems.length > 0 && (
        <div className="notice" role="status">
          <p>Parts of the link were not understood and were left out:</p>
          <ul>
            {problems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}

      {unauthorized ? (
        <KeyPrompt
          detail={unauthorized.detail}
          hadKey={storedKey() !== null}
          onKey={(key) => {
            storeKey(key)
            retry()
          }}
        />
      ) : setupError ? (
        <div className="error" role="alert">
          <p>{message(setupError)}</p>
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
          colours={colours}
          onChange={(users) => update({ users, zones: view.zones && users.includes(view.zones) ? view.zones : null })}
        />
        <RangePicker
          preset={preset}
          range={range}
          timeZone={timeZone}
          onPreset={onPreset}
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
          <button type="button" onClick={() => onPan(-1)} aria-label="Pan earlier">
            ◀ Earlier
          </button>
          <button type="button" onClick={() => onPan(1)} aria-label="Pan later">
            Later ▶
          </button>
          <button type="button" onClick={() => update({ zoom: zoomOut(zoom, range) })} disabled={!zoom}>
            Zoom out
          </button>
          <button type="button" onClick={() => update({ zoom: null })} disabled={!zoom}>
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

        {overview && overviewQuery.data && (
          <div className="overview" aria-label="Whole range; drag to zoom">
            <Overview
              data={overview}
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
          onKeyDown={onChartKey}
        >
          {aligned && series && (
            <DetailChart
              data={aligned}
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
              <p>{message(seriesQuery.error)}</p>
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
        {aligned && series && (
          <Legend
            userIds={shownUsers}
            colours={colours}
            data={aligned}
            index={cursor}
            resolution={info?.interval ?? '1m'}
            timeZone={timeZone}
          />
        )}
      </section>

      {chartHidden ? null : summaryQuery.error ? (
        <div className="error" role="alert">
          <p>Daily summaries: {message(summaryQuery.error)}</p>
        </div>
      ) : summaryQuery.data ? (
        <DailyPanel summaries={summaries} colours={colours} width={chartWidth} />
      ) : null}
    </div>
  )
}

function seriesData(response: MultiTimeseriesResponse | null) {
  return response ? alignUsers(response.data, response.metadata.query_info.interval) : null
}
