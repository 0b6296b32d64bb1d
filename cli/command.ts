/** How a command is defined: its options, its help, and what it does with the parsed arguments. */
import { HELP_OPTION, type OptionSpecs, type Parsed, parseOptions } from './args';
import type { CliContext, Command } from './context';
import { EXIT } from './errors';

export interface CommandSpec<S extends OptionSpecs> {
  /** As typed after `genai`; names the command in usage errors. */
  readonly name: string;
  /** Its options (`-h`/`--help` is added). */
  readonly options: S;
  readonly help: string;
  run(parsed: Parsed<S>, ctx: CliContext): Promise<number>;
}

/** A command that parses its options (usage errors naming the flag) and answers `--help` before anything else. */
export function defineCommand<S extends OptionSpecs>(spec: CommandSpec<S>): Command {
  return {
    help: spec.help,
    async run(argv, ctx) {
      const parsed = parseOptions(spec.name, argv, { ...spec.options, ...HELP_OPTION });
      if (parsed.values.help) {
        ctx.stdout.write(`${spec.help}\n`);
        return EXIT.ok;
      }
      return spec.run(parsed as Parsed<S>, ctx);
    },
  };
}
