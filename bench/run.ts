/**
 * `npm run bench`: every bench in this folder, one after the other, as one markdown report on stdout and in
 * `bench/results/latest.md`. Each bench measures its own baseline in the same run and reports against it.
 * `npm run bench -- chat` runs only the benches whose name contains `chat`.
 *
 * Each bench runs in a process of its own: a local cloud is one per process (the functions' SDK clients are created
 * once, like in Lambda), and one bench's leftovers must not skew the next one's numbers.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractSummary, type SummaryRow, table } from './stats';

const filter = process.argv[2];
const files = readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => !filter || f.includes(filter))
  .sort();
const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');

const sections: string[] = [];
const summary: SummaryRow[] = [];
for (const file of files) {
  process.stderr.write(`running ${file}…\n`);
  const out = execFileSync(tsx, [join(__dirname, file)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const { rows, rest } = extractSummary(out);
  summary.push(...rows);
  sections.push(rest);
}
const head = [`# Benchmarks (${new Date().toISOString()}, Node ${process.version})`];
if (summary.length > 0) {
  head.push(
    '## Summary: every figure with a target, from the sections below',
    table(
      ['figure', 'target', 'measured', 'met'],
      summary.map((r) => [r.metric, r.target, r.value, r.met ? 'yes' : '**no**']),
    ),
  );
}
const report = [...head, ...sections].join('\n\n') + '\n';
mkdirSync(join(__dirname, 'results'), { recursive: true });
writeFileSync(join(__dirname, 'results', 'latest.md'), report);
console.log(report);
