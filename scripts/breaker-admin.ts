/**
 * Operator command for the shared circuit breakers. Prints JSON.
 *
 *   npx tsx scripts/breaker-admin.ts status      [--model <id>]              [--table <name>]
 *   npx tsx scripts/breaker-admin.ts force-open  --model <id> [--seconds N]  [--table <name>]
 *   npx tsx scripts/breaker-admin.ts force-close --model <id>                [--table <name>]
 *
 * The table comes from `--table` or `GUARD_TABLE_NAME`; breaker settings from `GENAI_CONFIG` (defaults when unset);
 * the endpoint and credentials from the AWS SDK's usual resolution. With neither `--table` nor `GUARD_TABLE_NAME`, it
 * uses the running local cloud (`npm start`), which says where it is in its state file (`local/state-file.ts`).
 * `status` without `--model` reports every model of the configured chain.
 * `force-open` without `--seconds` holds the breaker open until `force-close`.
 */
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { modelChain } from '../config/schema';
import { ENV, readRuntimeConfig } from '../config/runtime';
import { DynamoBreakerStore } from '../lambda/aws/breaker-store';
import { CircuitBreaker } from '../lambda/core/breaker';
import { readLocalState } from '../local/state-file';

const USAGE = `usage: breaker-admin.ts status|force-open|force-close [--model <id>] [--seconds N] [--table <name>]`;

class UsageError extends Error {}

/** A DynamoDB client for the local cloud's stand-in, with the region and dummy credentials its functions use. */
function localDocumentClient(localEnv: Readonly<Record<string, string>>): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: localEnv.AWS_ENDPOINT_URL_DYNAMODB,
      region: localEnv.AWS_REGION,
      credentials: { accessKeyId: localEnv.AWS_ACCESS_KEY_ID, secretAccessKey: localEnv.AWS_SECRET_ACCESS_KEY },
    }),
  );
}

export async function main(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  note: (message: string) => void = (message) => process.stderr.write(`${message}\n`),
): Promise<unknown> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      model: { type: 'string' },
      seconds: { type: 'string' },
      table: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (positionals.length !== 1 || !['status', 'force-open', 'force-close'].includes(command)) {
    throw new UsageError(USAGE);
  }
  const local = (values.table ?? env[ENV.guardTable]) ? undefined : readLocalState(env);
  const tableName = values.table ?? env[ENV.guardTable] ?? local?.env[ENV.guardTable];
  if (!tableName) {
    throw new UsageError(
      `No table: pass --table, set ${ENV.guardTable}, or start the local cloud with npm start\n${USAGE}`,
    );
  }
  let seconds: number | undefined;
  if (values.seconds !== undefined) {
    if (command !== 'force-open') throw new UsageError(`--seconds applies to force-open only\n${USAGE}`);
    seconds = Number(values.seconds);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new UsageError(`--seconds must be a positive number`);
  }

  const config = readRuntimeConfig(local ? { ...env, ...local.env } : env);
  if (local) note(`using the local cloud at ${local.url}`);
  const store = new DynamoBreakerStore({ tableName, documentClient: local && localDocumentClient(local.env) });
  const breaker = new CircuitBreaker({ store, settings: config.breaker });
  switch (command) {
    case 'status':
      if (values.model) return breaker.status(values.model);
      return Promise.all(modelChain(config).map((m) => breaker.status(m)));
    case 'force-open':
      if (!values.model) throw new UsageError(`force-open needs --model\n${USAGE}`);
      return breaker.forceOpen(values.model, seconds);
    default:
      if (!values.model) throw new UsageError(`force-close needs --model\n${USAGE}`);
      return breaker.forceClose(values.model);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    },
    (err: unknown) => {
      const usage = err instanceof UsageError || (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS');
      const message = err instanceof Error ? (usage ? err.message : `${err.name}: ${err.message}`) : String(err);
      process.stderr.write(`${message}\n`);
      process.exitCode = usage ? 2 : 1;
    },
  );
}
