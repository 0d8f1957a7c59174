/** What in the page's link was not understood and left out, one line each (nothing if all was). */
export function LinkProblems({ problems }: { problems: string[] }) {
  if (problems.length === 0) return null
  return (
    <div className="notice" role="status">
      <p>Parts of the link were not understood and were left out:</p>
      <ul>
        {problems.map((problem) => (
          <li key={problem}>{problem}</li>
        ))}
      </ul>
    </div>
  )
}
