/**
 * How configuration reaches the functions: the stack (or the local cloud) validates the configuration with the schema
 * of config/schema.ts, fills in its defaults, and serialises the result into one environment variable; each function
 * reads it back once. The functions do not validate it again: it was validated where it was written, and the schema
 * (with its validation library) would be the largest part of every function's bundle and cold start.
 */
import type { AppConfig } from './schema';

export const CONFIG_ENV = 'GENAI_CONFIG';

/** Names of the environment variables that carry resource names into the functions. */
export const ENV = {
  config: CONFIG_ENV,
  usersTable: 'USERS_TABLE_NAME',
  guardTable: 'GUARD_TABLE_NAME',
  reportsTable: 'REPORTS_TABLE_NAME',
  requestsTable: 'REQUESTS_TABLE_NAME',
  streamsTable: 'STREAMS_TABLE_NAME',
  cacheTable: 'CACHE_TABLE_NAME',
  reportsQueueUrl: 'REPORTS_QUEUE_URL',
  eventBusName: 'EVENT_BUS_NAME',
  webhookSecretArn: 'WEBHOOK_SECRET_ARN',
  webhookDlqUrl: 'WEBHOOK_DLQ_URL',
  bedrockRegion: 'BEDROCK_REGION',
  /** Scheme of the API's public URL; unset on AWS (API Gateway serves https only), `http` in the local cloud. */
  apiUrlScheme: 'API_URL_SCHEME',
} as const;

/** The part of the configuration the functions need (deploy-time only fields are dropped to keep the variable small). */
export function runtimeConfigJson(config: AppConfig): string {
  // Per-function settings (reserved concurrency) are deploy-time only, like the alarm settings below.
  const { webhooks, observability, functions: _functions, ...rest } = config;
  // Alarm settings are deploy-time only: changing the on-call address must not redeploy every function.
  const {
    alarmEmail: _email,
    ttftAlarmMs: _ttft,
    accountConcurrencyAlarm: _accountConcurrency,
    // How the code is bundled, not how it runs.
    sourceMaps: _sourceMaps,
    ...runtimeObservability
  } = observability;
  return JSON.stringify({
    ...rest,
    stackName: undefined,
    webhooks: { ...webhooks, subscribers: [] },
    observability: runtimeObservability,
  });
}

/**
 * Reads the configuration a function was deployed with: the JSON {@link runtimeConfigJson} wrote from a validated
 * configuration (deploy-time only settings are absent). Fails, naming the variable, when it is unset or not JSON.
 */
export function readRuntimeConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const raw = env[CONFIG_ENV];
  if (!raw) throw new Error(`${CONFIG_ENV} is required: the stack and the local cloud set it`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error(`${CONFIG_ENV} is not valid JSON`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${CONFIG_ENV} must be a JSON object`);
  }
  return json as AppConfig;
}

/** Reads a required environment variable, failing with its name. */
export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (!value) throw new Error(`Environment variable ${name} is required`);
  return value;
}
