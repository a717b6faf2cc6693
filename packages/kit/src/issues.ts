/** One issue of a failed schema parse, as zod reports it */
export interface SchemaIssue {
  path: ReadonlyArray<PropertyKey>
  message: string
}

/**
 * Summarise the issues of a failed zod parse in one line, for a rejection's
 * `detail` or an error message: `hash: expected a CID; instrument: required`.
 * Accepts a `ZodError` (anything with `issues`) or the issues themselves.
 */
export function describeIssues (error: { issues: ReadonlyArray<SchemaIssue> } | ReadonlyArray<SchemaIssue>): string {
  const issues = 'issues' in error ? error.issues : error
  return issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(value)'}: ${issue.message}`)
    .join('; ')
}
