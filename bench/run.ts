/**
 * `npm run bench`: every bench in this folder, one after the other, as one markdown report on stdout and in
 * `bench/results/latest.md`. Each bench measures its own baseline in the same run and reports against it.
 * `npm run bench -- chat` runs only the benches whose name contains `chat`.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

async function main(): Promise<void> {
  const filter = process.argv[2];
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => !filter || f.includes(filter))
    .sort();
  const sections = [`# Benchmarks (${new Date().toISOString()}, Node ${process.version})`];
  for (const file of files) {
    process.stderr.write(`running ${file}…\n`);
    const mod = (await import(join(__dirname, file))) as { run: () => Promise<string> };
    sections.push(await mod.run());
  }
  const report = sections.join('\n\n') + '\n';
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(join(__dirname, 'results', 'latest.md'), report);
  console.log(report);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
