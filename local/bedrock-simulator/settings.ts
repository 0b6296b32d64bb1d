/**
 * The simulator's scriptable behaviour: per-model modes and pacing, and the validation of a `POST /_local/model` body.
 */
import { z } from 'zod';

export type SimulatorMode = 'normal' | 'throttle' | 'error' | 'slow' | 'midstream-error';

export interface ModelBehaviour {
  mode: SimulatorMode;
  /** Delay before the first token (or, in failing modes, before the failure). */
  ttftMs: number;
  /** Pace of the generated tokens after the first one. */
  tokensPerSecond: number;
  /** Share (0..1) of calls that fail in `throttle`, `error` and `midstream-error` modes; the rest answer normally. */
  failRate: number;
  /**
   * The model's quota, as Bedrock's requests-per-minute quota: past this many calls in the last 60 seconds a call is
   * answered at once with `ThrottlingException` (429) and counted in `stats.throttled`. Unset: no quota.
   */
  requestsPerMinute?: number;
}

export interface SimulatorState {
  /** Behaviour of every model without an override. */
  default: ModelBehaviour;
  /** Per-model-id overrides. */
  models: Record<string, ModelBehaviour>;
}

/** A `POST /_local/model` body was rejected; the message names the field. */
export class SimulatorSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimulatorSettingsError';
  }
}

const MODES = ['normal', 'throttle', 'error', 'slow', 'midstream-error'] as const satisfies readonly SimulatorMode[];

const settingsSchema = z
  .object({
    mode: z.enum(MODES, {
      error: (issue) => (issue.input === undefined ? `required, one of ${MODES.join(', ')}` : undefined),
    }),
    ttftMs: z.number().nonnegative().optional(),
    tokensPerSecond: z.number().positive().optional(),
    failRate: z.number().min(0).max(1).optional(),
    requestsPerMinute: z.number().int().positive().optional(),
    model: z.string().min(1).optional(),
  })
  .strict();

const NORMAL_PACE = { ttftMs: 20, tokensPerSecond: 2000 };
const SLOW_PACE = { ttftMs: 3000, tokensPerSecond: 20 };

export function defaultBehaviour(): ModelBehaviour {
  return { mode: 'normal', ...NORMAL_PACE, failRate: 1 };
}

export function initialState(): SimulatorState {
  return { default: defaultBehaviour(), models: {} };
}

/**
 * The state after a `POST /_local/model` body. Without `model` it replaces the behaviour of every model and clears the
 * overrides; with `model` it sets that model's override only. Omitted numbers take the mode's defaults
 * (`slow`: 3000 ms / 20 tokens/s; otherwise 20 ms / 2000 tokens/s; `failRate` 1), not the current values.
 * @throws SimulatorSettingsError naming the offending field; `state` is then unchanged.
 */
export function applySettings(state: SimulatorState, body: unknown): SimulatorState {
  const parsed = settingsSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const field =
        issue.path.length > 0
          ? issue.path.join('.')
          : issue.code === 'unrecognized_keys'
            ? issue.keys.join(', ')
            : 'body';
      return `${field}: ${issue.message}`;
    });
    throw new SimulatorSettingsError(`Invalid simulator settings: ${problems.join('; ')}`);
  }
  const { model, mode, ttftMs, tokensPerSecond, failRate, requestsPerMinute } = parsed.data;
  const pace = mode === 'slow' ? SLOW_PACE : NORMAL_PACE;
  const behaviour: ModelBehaviour = {
    mode,
    ttftMs: ttftMs ?? pace.ttftMs,
    tokensPerSecond: tokensPerSecond ?? pace.tokensPerSecond,
    failRate: failRate ?? 1,
    ...(requestsPerMinute === undefined ? {} : { requestsPerMinute }),
  };
  if (model === undefined) return { default: behaviour, models: {} };
  return { default: state.default, models: { ...state.models, [model]: behaviour } };
}

export function behaviourFor(state: SimulatorState, modelId: string): ModelBehaviour {
  return state.models[modelId] ?? state.default;
}
