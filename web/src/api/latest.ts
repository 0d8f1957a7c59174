/**
 * Runs one request at a time and delivers only the newest one's outcome.
 *
 * A new `run` aborts the request in flight (its AbortSignal fires, so fetch stops) and
 * discards whatever it still resolves with, so a slow old answer never overwrites a newer
 * one. Calls are debounced on the trailing edge, but the first call after a quiet spell
 * starts at once: a single click or drag end costs no delay, a burst (typing a date,
 * holding an arrow key, a pinch) becomes one request once it pauses.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown }

export class LatestOnly {
  private readonly delayMs: number
  private readonly now: () => number
  private generation = 0
  private controller: AbortController | null = null
  private timer: ReturnType<typeof setTimeout> | null = null
  private lastCall = Number.NEGATIVE_INFINITY

  constructor(delayMs: number, now: () => number = () => Date.now()) {
    this.delayMs = delayMs
    this.now = now
  }

  run<T>(task: (signal: AbortSignal) => Promise<T>, deliver: (outcome: Outcome<T>) => void): void {
    this.stop()
    const generation = this.generation
    const start = () => {
      this.timer = null
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
    const now = this.now()
    const quiet = now - this.lastCall >= this.delayMs
    this.lastCall = now
    if (quiet) start()
    else this.timer = setTimeout(start, this.delayMs)
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
