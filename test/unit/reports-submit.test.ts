/**
 * Accepting reports with the in-memory fake of the store (no server, no network). The tests that involve the store are
 * the shared suite in test/suites/reports-submit.suite.ts, which test/integration/reports-submit.test.ts runs against
 * the DynamoDB adapter and its condition expressions; the request hash and the nesting measure need no store, and are
 * tested here only.
 */
import { nestingExceeds, requestHashOf } from '../../lambda/core/reports/submit';
import { InMemoryReportStore } from '../helpers/reports-fakes';
import { nested, reportSubmitSuite } from '../suites/reports-submit.suite';

reportSubmitSuite('in-memory report store', async () => {
  const repo = new InMemoryReportStore();
  return { repo, putRaw: async (item) => repo.put(item) };
});

test('the request hash ignores key order in metadata and tells bodies apart', () => {
  expect(requestHashOf({ prompt: 'p', metadata: { a: 1, b: { c: 2, d: 3 } } })).toBe(
    requestHashOf({ prompt: 'p', metadata: { b: { d: 3, c: 2 }, a: 1 } }),
  );
  expect(requestHashOf({ prompt: 'p' })).not.toBe(requestHashOf({ prompt: 'p', callbackUrl: 'https://x.example.com' }));
  expect(requestHashOf({ prompt: 'p' })).not.toBe(requestHashOf({ prompt: 'q' }));
});

describe('metadata', () => {
  test('nesting is measured without recursion', () => {
    expect(nestingExceeds(nested(200_000), 32)).toBe(true);
    expect(nestingExceeds({ a: [1, { b: 'x' }] }, 3)).toBe(false);
    expect(nestingExceeds({ a: [1, { b: [] }] }, 3)).toBe(true);
    expect(nestingExceeds('scalar', 0)).toBe(false);
  });

  test('the request hash tells a "__proto__" key apart from no key, and handles "constructor"', () => {
    const withProto = JSON.parse('{"__proto__":{"a":1}}') as Record<string, unknown>;
    expect(requestHashOf({ prompt: 'p', metadata: withProto })).not.toBe(requestHashOf({ prompt: 'p', metadata: {} }));
    const ctor = JSON.parse('{"constructor":{"b":1,"a":2}}') as Record<string, unknown>;
    const ctorReordered = JSON.parse('{"constructor":{"a":2,"b":1}}') as Record<string, unknown>;
    expect(requestHashOf({ prompt: 'p', metadata: ctor })).toBe(
      requestHashOf({ prompt: 'p', metadata: ctorReordered }),
    );
  });
});
