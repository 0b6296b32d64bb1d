/**
 * CloudWatch metrics of the application, built from the catalogue the functions write with (`config/metrics.ts`):
 * names and dimension sets are read from there, never retyped, so an alarm cannot watch a metric nobody writes.
 */
import { Duration } from 'aws-cdk-lib';
import { MathExpression, Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import { DIMENSIONS, type MetricSpec } from '../../../config/metrics';

/** Every alarm and graph aggregates over five minutes unless it says otherwise. */
export const PERIOD = Duration.minutes(5);

type DimensionKey = keyof typeof DIMENSIONS;

export interface ApplicationMetricsProps {
  /** CloudWatch namespace the functions write to (Powertools' `POWERTOOLS_METRICS_NAMESPACE`). */
  readonly namespace: string;
  /** Value of the `service` dimension every metric carries (Powertools' `POWERTOOLS_SERVICE_NAME`). */
  readonly service: string;
}

/** Builds metrics and search expressions of one service; not a construct, it creates no resource. */
export class ApplicationMetrics {
  public readonly namespace: string;
  public readonly service: string;

  constructor(props: ApplicationMetricsProps) {
    assertSearchable(props.namespace, 'observability.metricsNamespace');
    assertSearchable(props.service, 'observability.serviceName');
    this.namespace = props.namespace;
    this.service = props.service;
  }

  /**
   * One metric with the exact dimension set the functions write: `service` and every dimension of `spec`, each of
   * which must be given a value.
   */
  public metric(
    spec: MetricSpec,
    values: Partial<Record<DimensionKey, string>>,
    statistic: string,
    label?: string,
  ): Metric {
    const dimensionsMap: Record<string, string> = { service: this.service };
    for (const key of spec.dimensions) {
      const value = values[key];
      if (value === undefined)
        throw new Error(`${spec.name}: a value for the ${DIMENSIONS[key]} dimension is required`);
      dimensionsMap[DIMENSIONS[key]] = value;
    }
    return new Metric({
      namespace: this.namespace,
      metricName: spec.name,
      dimensionsMap,
      statistic,
      period: PERIOD,
      label,
    });
  }

  /** Sum of a counter over every value of its dimensions, restricted by `equals` (e.g. one endpoint, every model). */
  public total(spec: MetricSpec, equals: Partial<Record<DimensionKey, string>>, label: string): MathExpression {
    return new MathExpression({
      expression: `SUM(${this.search(spec, equals, Stats.SUM)})`,
      usingMetrics: {},
      label,
      period: PERIOD,
    });
  }

  /** `SEARCH` over the namespace with the dimensions of `spec` besides `service`, for this service. */
  public search(spec: MetricSpec, equals: Partial<Record<DimensionKey, string>>, statistic: string): string {
    const schema = [searchName(this.namespace), 'service', ...spec.dimensions.map((d) => DIMENSIONS[d])].join(',');
    const terms = [
      `MetricName="${spec.name}"`,
      `service="${this.service}"`,
      ...Object.entries(equals).map(([k, v]) => `${DIMENSIONS[k as DimensionKey]}="${v}"`),
    ];
    return `SEARCH('{${schema}} ${terms.join(' ')}', '${statistic}', ${PERIOD.toSeconds()})`;
  }
}

/** A namespace or dimension name in a SEARCH schema: quoted when it has characters beyond the plain ones. */
function searchName(name: string): string {
  return /^[A-Za-z0-9._\-/#]+$/.test(name) ? name : `"${name}"`;
}

/** SEARCH expressions quote names and values; refuse the characters that would end a quoted string. */
function assertSearchable(value: string, field: string): void {
  if (/["'\\]/.test(value)) {
    throw new Error(`${field}: must not contain quotes or backslashes (it is used in CloudWatch search expressions)`);
  }
}

/** A model id as shown in alarm names and legends: the resource part of an ARN, the id itself otherwise. */
export function modelLabel(model: string): string {
  return model.startsWith('arn:') ? model.split(':').slice(5).join(':') : model;
}
