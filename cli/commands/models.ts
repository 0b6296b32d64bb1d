/** `genai models`: the models the API serves (`GET /models`), one id per line. */
import { API_OPTIONS, expectPositionals } from '../args';
import { defineCommand } from '../command';
import { EXIT } from '../errors';
import { createClient, resolveApiTarget } from '../target';

const OPTIONS = { ...API_OPTIONS, json: { type: 'boolean' } } as const;

const HELP = `Usage: genai models [options]

Lists the models the API serves (GET /models), one id per line on stdout: the ids POST /chat/completions accepts.

Options:
  --json   print the list as the API answers it: {"object":"list","data":[{"id","object","created","owned_by"}]}
  --url, --key, --bearer, -h, --help: see genai --help`;

export const command = defineCommand({
  name: 'models',
  options: OPTIONS,
  help: HELP,
  async run({ values, positionals }, ctx) {
    expectPositionals('models', positionals, []);
    const list = await createClient(resolveApiTarget(values, ctx.env, 'models'), ctx).models({ signal: ctx.signal });
    ctx.stdout.write(values.json ? `${JSON.stringify(list)}\n` : list.data.map((m) => `${m.id}\n`).join(''));
    return EXIT.ok;
  },
});
