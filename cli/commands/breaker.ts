/**
 * `genai breaker status|open|close`: the shared circuit breakers, on the running local cloud by default, or on a
 * deployed stack with `--stack` / `--region` (or a guard table named with `--table`). See cli/admin/breaker.ts.
 */
import { table } from '../../bench/stats';
import type { BreakerStatus } from '../../lambda/core/breaker';
import { type BreakerAction, breakerAdmin } from '../admin/breaker';
import { checkStackFlags, STACK_OPTIONS } from '../admin/stack';
import { expectPositionals, intOption } from '../args';
import { defineCommand } from '../command';
import { EXIT, UsageError } from '../errors';

const OPTIONS = {
  model: { type: 'string' },
  seconds: { type: 'string' },
  table: { type: 'string' },
  ...STACK_OPTIONS,
  json: { type: 'boolean' },
} as const;

const ACTIONS: readonly BreakerAction[] = ['status', 'open', 'close'];
/** A forced opening longer than a week is a mistake more often than a decision; `open` without --seconds is "until close". */
const MAX_OPEN_SECONDS = 7 * 24 * 3600;

const HELP = `Usage: genai breaker status [--model <id>]
       genai breaker open  --model <id> [--seconds <n>]
       genai breaker close --model <id>

The circuit breakers every function shares (one per model, in the guard table): status shows each configured model's
state (CLOSED, OPEN, HALF_OPEN), trips and current window; open forces one open (for <n> seconds, or until close),
so calls go to the fallback models; close closes it and resets its trips.

Where: the running local cloud (npm start) by default; --stack or --region for a deployed stack (its GuardTableName
output), or --table (or GUARD_TABLE_NAME) for a guard table by name, with the AWS SDK's usual credentials.

Options:
  --model <id>       a configured model id (status: default every configured model)
  --seconds <n>      open only: how long to hold it open (1-${MAX_OPEN_SECONDS}); default until close
  --stack <name>     the CloudFormation stack (default: stackName in cdk.json, else GenAiApi)
  --region <region>  its AWS Region
  --table <name>     the guard table itself
  --json             print the breakers as JSON (an array of status objects)
  -h, --help`;

function describe(s: BreakerStatus): string[] {
  const until = s.state === 'OPEN' ? (s.openUntil === null ? 'until close' : (s.openUntil ?? '–')) : '–';
  const window = `${s.window.calls} calls, ${Math.round(s.window.failureRate * 100)}% failed`;
  return [s.modelId, s.state, String(s.trips), s.forced ? 'yes' : 'no', until, window, s.reason ?? '–'];
}

export const command = defineCommand({
  name: 'breaker',
  options: OPTIONS,
  help: HELP,
  async run({ values, positionals }, ctx) {
    const [action] = expectPositionals('breaker', positionals, ['status, open or close']);
    if (!ACTIONS.includes(action as BreakerAction)) {
      throw new UsageError(`unknown breaker command "${action}" (status, open or close)`, 'breaker');
    }
    if (values.seconds !== undefined && action !== 'open')
      throw new UsageError('--seconds applies to open only', 'breaker');
    const seconds = intOption('breaker', '--seconds', values.seconds, { min: 1, max: MAX_OPEN_SECONDS });
    if (action !== 'status' && values.model === undefined)
      throw new UsageError(`breaker ${action} needs --model`, 'breaker');
    checkStackFlags(values, 'breaker');

    const { target, breakers } = await breakerAdmin(action as BreakerAction, { ...values, seconds }, ctx.env);
    ctx.stderr.write(`breakers of ${target}\n`);
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify(breakers, null, 2)}\n`);
      return EXIT.ok;
    }
    const headers = ['model', 'state', 'trips', 'forced', 'open until', 'window', 'reason'];
    ctx.stdout.write(`${table(headers, breakers.map(describe))}\n`);
    return EXIT.ok;
  },
});
