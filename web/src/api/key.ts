// The API key typed into the key prompt, kept for this browser tab's session only
// (sessionStorage: gone when the tab closes, never written to disk by the page).
const STORAGE_KEY = 'hr-api-key'

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY)
  } catch {
    return null // storage disabled (private mode, sandboxed frame): ask again when needed
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(STORAGE_KEY, key)
    else sessionStorage.removeItem(STORAGE_KEY)
  } catch {
    // Not remembered; the prompt comes back on the next 401.
  }
}
