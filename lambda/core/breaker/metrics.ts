/**
 * What the breaker tells operators: a log line and a `BreakerTransition` count per transition, and a `BreakerState`
 * gauge when the state an instance knows changes (and at least once a minute while it keeps reading it). Names, units
 * and gauge values come from the metrics catalogue, which the alarms read too.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { BREAKER_STATE_VALUE, DIMENSIONS, METRICS } from '../../../config/metrics';
import { OPEN_UNTIL_FORCE_CLOSE } from './state-machine';
import type { BreakerStateName, StoredBreakerState } from './store';

/** The part of Powertools `Metrics` the breaker uses. */
export type BreakerMetrics = Pick<Metrics, 'singleMetric'>;
/** The part of Powertools `Logger` the breaker uses. */
export type BreakerLogger = Pick<Logger, 'info' | 'warn'>;

const GAUGE_REFRESH_MS = 60_000;

export class BreakerObserver {
  private readonly gaugeAt = new Map<string, number>();

  constructor(
    private readonly metrics?: BreakerMetrics,
    private readonly logger?: BreakerLogger,
  ) {}

  transitioned(modelId: string, from: StoredBreakerState, to: StoredBreakerState, reason: string): void {
    this.logger?.info('breaker transition', {
      modelId,
      from: from.state,
      to: to.state,
      generation: to.generation,
      trips: to.trips,
      reason,
      openUntil:
        to.openUntil === undefined
          ? undefined
          : to.openUntil >= OPEN_UNTIL_FORCE_CLOSE
            ? 'force-close'
            : iso(to.openUntil),
    });
    if (from.state === to.state) return;
    this.emit(modelId, (m) => {
      m.addDimension(DIMENSIONS.from, from.state);
      m.addDimension(DIMENSIONS.to, to.state);
      m.addMetric(METRICS.breakerTransition.name, METRICS.breakerTransition.unit, 1);
    });
  }

  /** An instance learned `state` (read or wrote it); `previous` is what it knew before. */
  learned(modelId: string, previous: BreakerStateName | undefined, state: BreakerStateName, now: number): void {
    if (previous === state && now - (this.gaugeAt.get(modelId) ?? 0) < GAUGE_REFRESH_MS) return;
    if (!this.metrics) return;
    this.gaugeAt.set(modelId, now);
    this.emit(modelId, (m) =>
      m.addMetric(METRICS.breakerState.name, METRICS.breakerState.unit, BREAKER_STATE_VALUE[state]),
    );
  }

  warn(message: string, modelId: string, err: unknown, extra: Record<string, unknown> = {}): void {
    this.logger?.warn(message, {
      modelId,
      ...extra,
      error: err instanceof Error ? { name: err.name, message: err.message } : String(err),
    });
  }

  info(message: string, extra: Record<string, unknown>): void {
    this.logger?.info(message, extra);
  }

  private emit(modelId: string, add: (m: ReturnType<BreakerMetrics['singleMetric']>) => void): void {
    if (!this.metrics) return;
    try {
      const m = this.metrics.singleMetric();
      m.addDimension(DIMENSIONS.model, modelId);
      add(m);
    } catch (err) {
      this.warn('breaker metric not emitted', modelId, err);
    }
  }
}

export function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
