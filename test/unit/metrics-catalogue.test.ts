/** The metrics catalogue is what both the functions and the alarms read: it must be valid for CloudWatch and unique. */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DIMENSIONS, METRICS } from '../../config/metrics';
import { addMetric } from '../../lambda/core/observability';

describe('metrics catalogue', () => {
  it('names each metric once, with a unit Powertools and CloudWatch accept', () => {
    const specs = Object.values(METRICS);
    expect(new Set(specs.map((m) => m.name)).size).toBe(specs.length);
    for (const spec of specs) expect(Object.values(MetricUnit)).toContain(spec.unit);
  });

  it('uses only catalogued dimensions', () => {
    for (const spec of Object.values(METRICS))
      for (const d of spec.dimensions) expect(Object.keys(DIMENSIONS)).toContain(d);
  });

  it('emits a catalogued metric with its own name and unit', () => {
    const calls: unknown[][] = [];
    addMetric({ addMetric: (...args: unknown[]) => void calls.push(args) } as never, METRICS.timeToFirstToken, 120);
    expect(calls).toEqual([['TimeToFirstToken', 'Milliseconds', 120, expect.anything()]]);
  });
});
