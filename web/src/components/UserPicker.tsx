interface Props {
  allUsers: string[]
  selected: string[]
  /** The most users one request may show (the API's limit). */
  maxUsers: number
  colours: Map<string, string>
  onChange: (users: string[]) => void
}

/** The users on the chart as removable chips, and a list to add one more. */
export function UserPicker({ allUsers, selected, maxUsers, colours, onChange }: Props) {
  const addable = allUsers.filter((id) => !selected.includes(id))
  const full = selected.length >= maxUsers
  return (
    <fieldset className="control users">
      <legend>Users</legend>
      <ul className="chips">
        {selected.map((id) => (
          <li key={id} className="chip">
            <span className="swatch" style={{ background: colours.get(id) ?? '#000000' }} aria-hidden="true" />
            {id}
            <button
              type="button"
              className="chip-remove"
              aria-label={`Remove ${id}`}
              title={selected.length === 1 ? 'The chart needs a user' : `Remove ${id}`}
              disabled={selected.length === 1}
              onClick={() => onChange(selected.filter((other) => other !== id))}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      <label className="add-user">
        <span className="visually-hidden">Add a user</span>
        <select
          value=""
          disabled={addable.length === 0 || full}
          onChange={(event) => event.target.value && onChange([...selected, event.target.value])}
        >
          <option value="">{full ? `At most ${maxUsers} users` : addable.length ? 'Add a user…' : 'No other users'}</option>
          {addable.map((id) => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
      </label>
    </fieldset>
  )
}
