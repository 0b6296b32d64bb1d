/** The local bus's EventBridge pattern matcher, on our rules and on the parts of the pattern language it claims. */
import { FINISHED_REPORTS_PATTERN, REPORT_CALLBACKS_PATTERN, REPORT_EVENT_SOURCE } from '../../config/reports';
import { EventPatternError, matchesPattern, readJsonPath } from '../../local/event-pattern';

const event = (detailType: string, detail: Record<string, unknown>, source = REPORT_EVENT_SOURCE) => ({
  version: '0',
  id: 'e-1',
  'detail-type': detailType,
  source,
  account: '000000000000',
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

describe('our rules', () => {
  const payload = { type: 'report.completed', reportId: 'r', status: 'COMPLETED', occurredAt: 'x' };
  test('every finished report reaches the subscribers', () => {
    expect(matchesPattern(FINISHED_REPORTS_PATTERN, event('report.completed', { payload }))).toBe(true);
    expect(matchesPattern(FINISHED_REPORTS_PATTERN, event('report.failed', { payload }))).toBe(true);
    expect(matchesPattern(FINISHED_REPORTS_PATTERN, event('report.started', { payload }))).toBe(false);
    expect(matchesPattern(FINISHED_REPORTS_PATTERN, event('report.completed', { payload }, 'someone.else'))).toBe(
      false,
    );
  });
  test('only reports with a callbackUrl reach the webhook sender', () => {
    expect(
      matchesPattern(
        REPORT_CALLBACKS_PATTERN,
        event('report.failed', { payload, callbackUrl: 'https://h.example.com' }),
      ),
    ).toBe(true);
    expect(matchesPattern(REPORT_CALLBACKS_PATTERN, event('report.failed', { payload }))).toBe(false);
  });
});

describe('matchesPattern', () => {
  const e = { source: 'a.b', n: 7, flag: true, none: null, tags: ['x', 'y'], nested: { name: 'Report-9', size: 10 } };
  test.each([
    [{ source: ['a.b'] }, true],
    [{ source: ['c'] }, false],
    [{ source: [{ prefix: 'a.' }] }, true],
    [{ source: [{ suffix: '.b' }] }, true],
    [{ nested: { name: [{ 'equals-ignore-case': 'report-9' }] } }, true],
    [{ nested: { name: [{ prefix: { 'equals-ignore-case': 'REPORT' } }] } }, true],
    [{ source: [{ 'anything-but': 'a.b' }] }, false],
    [{ source: [{ 'anything-but': ['c', 'd'] }] }, true],
    [{ source: [{ 'anything-but': { prefix: 'a' } }] }, false],
    [{ n: [7] }, true],
    [{ n: [{ numeric: ['>', 5, '<=', 7] }] }, true],
    [{ n: [{ numeric: ['>', 7] }] }, false],
    [{ flag: [true] }, true],
    [{ none: [null] }, true],
    [{ tags: ['y'] }, true],
    [{ tags: ['z'] }, false],
    [{ missing: [{ exists: false }] }, true],
    [{ missing: [{ exists: true }] }, false],
    [{ source: [{ exists: true }] }, true],
    [{ nested: [{ exists: true }] }, false],
    [{ missing: ['a'] }, false],
    [{ nested: { size: [10], name: ['nope'] } }, false],
    [{ source: ['a.b'], nested: { size: [10] } }, true],
  ])('%j → %s', (pattern, expected) => {
    expect(matchesPattern(pattern, e)).toBe(expected);
  });

  test('unknown operators fail loudly', () => {
    expect(() => matchesPattern({ source: [{ cidr: '10.0.0.0/24' }] }, e)).toThrow(EventPatternError);
    expect(() => matchesPattern({ source: 'a.b' }, e)).toThrow(EventPatternError);
  });
});

test('readJsonPath reads the InputPath our targets use', () => {
  const ev = event('report.completed', { payload: { reportId: 'r' } });
  expect(readJsonPath(ev, '$.detail.payload')).toEqual({ reportId: 'r' });
  expect(readJsonPath(ev, '$')).toBe(ev);
  expect(readJsonPath(ev, '$.detail.missing.deeper')).toBeUndefined();
});
