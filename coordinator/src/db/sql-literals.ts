import { type SQL, sql } from 'drizzle-orm';

/**
 * `'a', 'b', …` as SQL text, for lists of this code's own constants (state
 * names) inside a statement or a CHECK constraint. Never for input: input
 * is always a parameter.
 */
export function constantList(values: readonly string[]): SQL {
  if (values.some((v) => !/^[a-z][a-z0-9_-]*$/.test(v))) throw new Error(`constantList takes identifiers only, got ${values.join(', ')}`);
  return sql.raw(values.map((v) => `'${v}'`).join(', '));
}
