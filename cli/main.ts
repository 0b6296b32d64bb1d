/**
 * `genai`: the API from a terminal or a script. One entry point for calling the API (chat, report, models, bench) and
 * for operating it (keys, breaker), against the running local cloud by default or a deployed stage.
 * Started by cli/genai.cjs; `run` takes the arguments and a context, so it can be driven in-process too.
 */
import { version } from '../package.json';
import { parseOptions, splitCommand, TOP_LEVEL_OPTIONS } from './args';
import type { CliContext, Command } from './context';
import { EXIT, UsageError } from './errors';
import { reportFailure } from './failure';
import { KEY_ENV, URL_ENV } from './target';

/**
 * The commands, each in `./commands/<name>.ts` exporting `command`, loaded on use only: `genai chat` does not pay for
 * the AWS SDK that `keys` and `breaker` load.
 */
export const COMMANDS: Readonly<Record<string, string>> = {
  chat: 'send a message: stream the answer (or --sync), then TTFT, latency, tokens/s',
  report: 'submit an async report; --wait follows it and prints the result; report cancel <id> cancels one',
  models: 'list the models the API serves',
  bench: 'load and failure test: stream vs sync TTFT, latency, tokens/s p50/p99, share of 429s and 5xx',
  keys: 'keys create --user <id> --plan <plan>: issue an API key (local cloud, or --stack/--region)',
  breaker: 'breaker status|open|close: the shared circuit breakers (local cloud, or --stack/--region)',
};

function load(name: string): Command {
  return (require(`./commands/${name}`) as { command: Command }).command;
}

export const HELP = `Usage: genai <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, summary]) => `  ${name.padEnd(9)}${summary}`)
  .join('\n')}

Run "genai <command> --help" for a command's options.

Where the API is (chat, report, models, bench):
  --url <url>   the API's base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/v1
                (default: ${URL_ENV}, else the local cloud that npm start runs)
  --key <key>   the API key (default: ${KEY_ENV}, else, for the local cloud only, one of its own keys)
  --bearer      send the key as Authorization: Bearer instead of x-api-key
keys and breaker act on the local cloud by default, and on a deployed stack with --stack / --region.

  -h, --help     this help
  -V, --version  the version

Exit status (stderr says why):
  0    done
  1    the API or AWS answered with an error: "error: <CODE>: <message>", then "retry after <N>s" when known
  2    usage: a bad command, option or value: "error: <message naming the option>"
  3    cannot reach the API, or no local cloud is running and no --url was given: "error: UNREACHABLE: <message>"
  130  interrupted (Ctrl-C): a chat answer is cancelled on the server; a report being waited for goes on`;

/** Runs one command line and resolves to its exit status; nothing it throws escapes. */
export async function run(argv: readonly string[], ctx: CliContext): Promise<number> {
  try {
    const { command, rest } = splitCommand(argv);
    if (command === undefined) {
      const { values } = parseOptions('', rest, TOP_LEVEL_OPTIONS);
      if (values.version) {
        ctx.stdout.write(`${version}\n`);
        return EXIT.ok;
      }
      if (values.help) {
        ctx.stdout.write(`${HELP}\n`);
        return EXIT.ok;
      }
      throw new UsageError('missing command (chat, report, models, bench, keys or breaker)');
    }
    if (!Object.hasOwn(COMMANDS, command)) {
      throw new UsageError(`unknown command "${command}" (${Object.keys(COMMANDS).join(', ')})`);
    }
    return await load(command).run(rest, ctx);
  } catch (err) {
    return reportFailure(err, ctx);
  }
}
