/**
 * Runs one request at a time and delivers only the newest one's outcome.
 *
 * A new `run` aborts the request in flight (its AbortSignal fires, so fetch stops) and
 * discards whatever it still resolves with, so a slow old answer never overwrites a newer
 * one. Requests start at most once per `delayMs`: a call after a quiet spell starts at once
 * (a click or a drag end costs no delay), calls that come faster (a held arrow key, a resize)
 * wait for the end of that interval and only the last of them is sent.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }

export class LatestOnly {
  private readonly delayMs: number
  private readonly now: () => number
  private generation = 0
  private controller: AbortController | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private lastStart = Number.NEGATIVE_INFINITY

  constructor(delayMs: number, now: () => number = () => Date.now()) {
    this.delayMs = delayMs
    this.now = now
  }

  run<T>(task: (signal: AbortSignal) => Promise<T>, deliver: (outcome: Outcome<T>) => void): void {
    this.stop()
    const generation = this.generation
    const start = () => {
      this.timer = null
      this.lastStart = this.now()
      const controller = new AbortController()
      this.controller = controller
      const current = () => generation === this.generation && !controller.signal.aborted
      task(controller.signal).then(
        (value) => {
          if (current()) deliver({ ok: true, value })
        },
        (error: unknown) => {
          if (current()) deliver({ ok: false, error })
        },
      )
    }
    const wait = this.lastStart + this.delayMs - this.now()
    if (wait <= 0) start()
    else this.timer = setTimeout(start, wait)
  }

  /** Abort what is in flight or waiting; nothing from before this call is delivered. */
  stop(): void {
    this.generation += 1
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.controller?.abort()
    this.controller = null
  }
}
