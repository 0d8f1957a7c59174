// Eight colours apart from each other for most forms of colour blindness (from Tableau 10 and
// its neighbours), without the yellow, orange and red of the heart-rate zones drawn behind them.
export const PALETTE = [
  '#4e79a7',
  '#59a14f',
  '#b07aa1',
  '#00818a',
  '#9c755f',
  '#2f4b7c',
  '#79706e',
  '#76b7b2',
] as const

function hash(text: string): number {
  // FNV-1a: the same id gives the same slot on every machine and every visit.
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * A colour per user that does not depend on the order they were picked in: each user's own
 * slot from its id, the next free slot when another selected user took it (ids in sorted
 * order decide who keeps it). Beyond eight users colours repeat.
 */
export function assignColours(userIds: readonly string[]): Map<string, string> {
  const colours = new Map<string, string>()
  const taken = new Set<number>()
  for (const id of [...new Set(userIds)].sort()) {
    let slot = hash(id) % PALETTE.length
    if (taken.size < PALETTE.length) {
      while (taken.has(slot)) slot = (slot + 1) % PALETTE.length
    }
    taken.add(slot)
    colours.set(id, PALETTE[slot] as string)
  }
  return colours
}
