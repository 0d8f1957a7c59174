import { storedKey } from './api/key.ts'
import { useRegistry } from './hooks/useRegistry.ts'
import { useSession } from './hooks/useSession.ts'
import { usersCountLabel } from './lib/registry.ts'
import { ExplorerPage } from './pages/Explorer.tsx'

/** The page: a header with what the key sees, and the explorer below it. */
export function App() {
  const session = useSession()
  const registry = useRegistry(session.attempt)
  const users = registry.users.data
  return (
    <div className="app">
      <header className="top">
        <h1>Heart rate</h1>
        <p className="muted">{users ? usersCountLabel(users.total_count, storedKey() !== null) : 'hr-pipeline'}</p>
      </header>
      <ExplorerPage session={session} registry={registry} />
    </div>
  )
}
