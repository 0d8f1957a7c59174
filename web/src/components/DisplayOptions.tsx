import { ZONES_OFF } from '../state/view.ts'

export interface ZoneChoice {
  timeZone: string
  label: string
}

interface Props {
  timeZones: ZoneChoice[]
  timeZone: string
  onTimeZone: (timeZone: string) => void
  users: string[]
  zonesOf: string
  onZones: (user: string) => void
}

/** Which time zone the times are shown in, and whose heart-rate zones are drawn. */
export function DisplayOptions({ timeZones, timeZone, onTimeZone, users, zonesOf, onZones }: Props) {
  return (
    <fieldset className="control display">
      <legend>Show</legend>
      <label>
        Time zone
        <select value={timeZone} onChange={(event) => onTimeZone(event.target.value)}>
          {timeZones.map((choice) => (
            <option key={choice.label} value={choice.timeZone}>
              {choice.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Heart-rate zones
        <select value={zonesOf} onChange={(event) => onZones(event.target.value)}>
          {users.map((id) => (
            <option key={id} value={id}>
              {id}’s zones
            </option>
          ))}
          <option value={ZONES_OFF}>Off</option>
        </select>
      </label>
    </fieldset>
  )
}
