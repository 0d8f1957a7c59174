import { useState, type FormEvent } from 'react'

interface Props {
  /** The API's reason for the 401. */
  detail: string
  hadKey: boolean
  onKey: (key: string) => void
}

/** Asks for an API key when the API answers 401; the key is kept for this tab's session. */
export function KeyPrompt({ detail, hadKey, onKey }: Props) {
  const [key, setKey] = useState('')
  const submit = (event: FormEvent) => {
    event.preventDefault()
    if (key.trim()) onKey(key.trim())
  }
  return (
    <form className="key-prompt" onSubmit={submit} aria-labelledby="key-title">
      <h2 id="key-title">{hadKey ? 'The API refused this key' : 'This API needs a key'}</h2>
      <p>
        The API said: <q>{detail}</q>. Ask its operator for a key (<code>hr api-keys create --user …</code>); it is
        remembered until this tab is closed.
      </p>
      <label>
        API key
        <input
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={key}
          onChange={(event) => setKey(event.target.value)}
          placeholder="hr_…"
          required
        />
      </label>
      <button type="submit">Use this key</button>
    </form>
  )
}
