import { storedKey } from './api/key.ts'
import { useRegistry } from './hooks/useRegistry.ts'
import { useSession } from './hooks/useSession.ts'
import { usersCountLabel } from './lib/registry.ts'
import { ExplorerPage } from './pages/Explorer.tsx'
import { StudyPage } from './pages/Study.tsx'

// The app is served under /app/: /app/ is the explorer, /app/study the Study page.
const STUDY_PATH = /\/study\/?$/
const onStudyPage = STUDY_PATH.test(window.location.pathname)
const appRoot = window.location.pathname.replace(STUDY_PATH, '/')

/** The shell: a header with the pages and what the key sees, and the page the address names. */
export function App() {
  const session = useSession()
  const registry = useRegistry(session.attempt)
  const users = registry.users.data
  return (
    <div className="app">
      <header className="top">
        <h1>Heart rate</h1>
        <nav aria-label="Pages">
          <a href={appRoot} aria-current={onStudyPage ? undefined : 'page'}>
            Explorer
          </a>
          <a href={`${appRoot}study`} aria-current={onStudyPage ? 'page' : undefined}>
            Study
          </a>
        </nav>
        <p className="muted">{users ? usersCountLabel(users.total_count, storedKey() !== null) : 'hr-pipeline'}</p>
      </header>
      {onStudyPage ? (
        <StudyPage session={session} registry={registry} />
      ) : (
        <ExplorerPage session={session} registry={registry} />
      )}
    </div>
  )
}
