import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ApiError, createClient, detailOf } from './client.ts'
import { LatestOnly, type Outcome } from './latest.ts'

// A real HTTP server on 127.0.0.1 answering in the API's shapes: the first /users/slow request
// of a test answers late, so the test can see whether its answer is dropped and its request aborted.
const seen: { path: string; aborted: boolean }[] = []
const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const entry = { path: request.url ?? '', aborted: false }
  seen.push(entry)
  request.on('close', () => {
    if (!response.writableEnded) entry.aborted = true
  })
  const answer = (status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    response.end(JSON.stringify(body))
  }
  if (entry.path.startsWith('/users/slow')) {
    setTimeout(() => !response.destroyed && answer(200, { user_id: 'slow' }), 400)
  } else if (entry.path.startsWith('/users/nobody')) {
    answer(404, { detail: 'user_id: unknown user nobody' })
  } else if (entry.path.startsWith('/users/')) {
    answer(200, { user_id: decodeURIComponent(entry.path.slice('/users/'.length)) })
  } else if (entry.path.startsWith('/summary')) {
    answer(401, { detail: 'missing API key' })
  } else {
    answer(200, { users: ['fast'], total_count: 1, last_updated: '2025-06-01T00:00:00Z' })
  }
})
let baseUrl = ''

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('LatestOnly', () => {
  it('aborts the request in flight and never delivers its late answer', async () => {
    const client = createClient({ baseUrl })
    const latest = new LatestOnly(0)
    const delivered: Outcome<{ user_id: string }>[] = []
    latest.run((signal) => client.user('slow', signal), (outcome) => delivered.push(outcome))
    await settle(50)
    latest.run((signal) => client.user('fast', signal), (outcome) => delivered.push(outcome))
    await settle(600)
    expect(delivered).toEqual([{ ok: true, value: { user_id: 'fast' } }])
    expect(seen.find((entry) => entry.path === '/users/slow')?.aborted).toBe(true)
  })

  it('delivers errors of the newest request with the API’s message', async () => {
    const client = createClient({ baseUrl })
    const latest = new LatestOnly(0)
    const delivered: Outcome<unknown>[] = []
    latest.run((signal) => client.user('nobody', signal), (outcome) => delivered.push(outcome))
    await settle(100)
    expect(delivered).toHaveLength(1)
    const error = (delivered[0] as { ok: false; error: ApiError }).error
    expect(error).toBeInstanceOf(ApiError)
    expect([error.status, error.detail]).toEqual([404, 'user_id: unknown user nobody'])
  })

  it('starts a call after a quiet spell at once, and only the last of a burst after the interval', () => {
    vi.useFakeTimers()
    try {
      let clock = 1_000
      const latest = new LatestOnly(150, () => clock)
      const started: string[] = []
      const task = (name: string) => () => {
        started.push(name)
        return new Promise<string>(() => {})
      }
      latest.run(task('first'), () => {})
      expect(started).toEqual(['first'])
      for (const name of ['b', 'c', 'd']) {
        clock += 40
        latest.run(task(name), () => {})
      }
      expect(started).toEqual(['first'])
      vi.advanceTimersByTime(29) // 'd' waits for 150 ms after 'first' began, not 150 ms more
      expect(started).toEqual(['first'])
      vi.advanceTimersByTime(1)
      expect(started).toEqual(['first', 'd'])
      clock += 30 + 500
      latest.run(task('later'), () => {})
      expect(started).toEqual(['first', 'd', 'later'])
    } finally {
      vi.useRealTimers()
    }
  })

  it('delivers nothing after stop', async () => {
    const client = createClient({ baseUrl })
    const latest = new LatestOnly(0)
    const delivered: unknown[] = []
    latest.run((signal) => client.users(signal), (outcome) => delivered.push(outcome))
    latest.stop()
    await settle(100)
    expect(delivered).toEqual([])
  })
})

describe('API client', () => {
  it('sends the session key as a bearer token and reports a 401 with its detail', async () => {
    const client = createClient({ baseUrl, key: () => 'hr_test' })
    const error = await client.summary({ userId: 'a', startDate: '2025-06-01', endDate: '2025-06-02' }).catch((e: unknown) => e)
    expect(error).toEqual(new ApiError(401, 'missing API key'))
  })

  it('says the API did not answer when nothing listens', async () => {
    const client = createClient({ baseUrl: 'http://127.0.0.1:9' })
    const error = (await client.users().catch((e: unknown) => e)) as ApiError
    expect(error.status).toBe(0)
    expect(error.detail).toMatch(/^The API did not answer \(.+\): is it running\?$/)
  })

  it('reads FastAPI validation lists as one line', () => {
    const body = { detail: [{ loc: ['query', 'max_points'], msg: 'must be at most 20000' }] }
    expect(detailOf(body, 'x')).toBe('max_points: must be at most 20000')
    expect(detailOf(null, 'Bad Gateway')).toBe('Bad Gateway')
  })
})
