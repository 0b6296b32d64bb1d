/** DynamoDB facts the adapters share. */

/**
 * Whether a write was refused because its condition did not hold (`ConditionalCheckFailedException`): the expected
 * outcome of a lost race, never an outage. Judged by name, so it holds across copies of the SDK and through wrappers.
 */
export function isConditionalCheckFailed(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ConditionalCheckFailedException'
  );
}
