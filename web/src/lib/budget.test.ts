import { describe, expect, it } from 'vitest'
import { OVERVIEW_POINTS_PER_PIXEL, POINTS_PER_PIXEL, pointBudget } from './budget.ts'

const API_LIMIT = 20_000

describe('point budget', () => {
  it('asks two points per pixel and user, rounded up to 250', () => {
    expect(pointBudget(1232, POINTS_PER_PIXEL, 1, API_LIMIT)).toBe(2500)
    expect(pointBudget(1232, POINTS_PER_PIXEL, 3, API_LIMIT)).toBe(7500)
    expect(pointBudget(1232, OVERVIEW_POINTS_PER_PIXEL, 1, API_LIMIT)).toBe(750)
  })

  it('keeps a small resize on the same budget', () => {
    expect(pointBudget(1130, POINTS_PER_PIXEL, 1, API_LIMIT)).toBe(pointBudget(1249, POINTS_PER_PIXEL, 1, API_LIMIT))
  })

  it('asks at least one step per user, also before the width is known', () => {
    expect(pointBudget(0, POINTS_PER_PIXEL, 0, API_LIMIT)).toBe(250)
  })

  it('never asks for more than the API allows', () => {
    expect(pointBudget(1232, POINTS_PER_PIXEL, 20, API_LIMIT)).toBe(API_LIMIT)
    expect(pointBudget(1232, POINTS_PER_PIXEL, 2, 3000)).toBe(3000)
  })
})
