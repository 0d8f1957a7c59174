import { createClient } from './client.ts'
import { storedKey } from './key.ts'

/** The page's one API client: same origin, with the key typed into the prompt (if any). */
export const client = createClient({ key: storedKey })
