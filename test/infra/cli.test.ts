/**
 * `bin/app.ts` run the way the CDK CLI runs it: a child process that gets the context in `CDK_CONTEXT_JSON` (cdk.json's
 * context, with a `-c genai='…'` as a string in place of cdk.json's genai object) and writes to `CDK_OUTDIR`.
 * Bundling is skipped (`aws:cdk:bundling-stacks`), as in the other infra tests.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const cdkJson = JSON.parse(fs.readFileSync(path.join(root, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

function runApp(genaiArg: string, region: string, cwd: string) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'genai-cdk-out-'));
  const context = { ...cdkJson.context, genai: genaiArg, 'aws:cdk:bundling-stacks': [] };
  const result = spawnSync(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'bin', 'app.ts')], {
    cwd,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      CDK_CONTEXT_JSON: JSON.stringify(context),
      CDK_OUTDIR: outdir,
      CDK_DEFAULT_REGION: region,
      CDK_DEFAULT_ACCOUNT: '123456789012',
    },
  });
  const templates = fs.readdirSync(outdir).filter((f) => f.endsWith('.template.json'));
  const template = templates.length ? JSON.parse(fs.readFileSync(path.join(outdir, templates[0]), 'utf8')) : undefined;
  fs.rmSync(outdir, { recursive: true, force: true });
  return { status: result.status, stderr: result.stderr, template };
}

describe('bin/app.ts under the CDK CLI', () => {
  it('fails in a Region the default us. inference profiles cannot be called from, naming the fields, without a stack trace', () => {
    const { status, stderr, template } = runApp('{"stackName":"EuApi"}', 'eu-west-1', root);
    expect(status).toBe(1);
    expect(stderr).toMatch(/models\.primary: "us\.anthropic\.claude-sonnet-4-20250514-v1:0" .* eu-west-1/);
    expect(stderr).toMatch(/models\.fallbacks\.0: /);
    expect(stderr).not.toMatch(/^\s+at /m);
    expect(template).toBeUndefined();
  });

  it('merges a partial -c genai over the cdk.json in the working directory', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'genai-project-'));
    const genai = {
      stackName: 'Acme-GenAi',
      observability: { logRetentionDays: 90, alarmEmail: 'oncall@example.com' },
    };
    fs.writeFileSync(path.join(dir, 'cdk.json'), JSON.stringify({ context: { ...cdkJson.context, genai } }));
    try {
      const { status, stderr, template } = runApp(
        '{"models":{"primary":"eu.anthropic.claude-sonnet-4-20250514-v1:0","fallbacks":[]}}',
        'eu-west-1',
        dir,
      );
      expect(stderr).not.toMatch(/Invalid/);
      expect(status).toBe(0);
      const resources = Object.values(template.Resources) as { Type: string; Properties: Record<string, any> }[];
      const retention = new Set(
        resources.filter((r) => r.Type === 'AWS::Logs::LogGroup').map((r) => r.Properties.RetentionInDays),
      );
      expect([...retention]).toEqual([90]);
      expect(resources.filter((r) => r.Type === 'AWS::SNS::Subscription').map((r) => r.Properties.Endpoint)).toEqual([
        'oncall@example.com',
      ]);
      const chatStream = resources.find(
        (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Description?.endsWith(' chat-stream'),
      );
      expect(JSON.parse(chatStream!.Properties.Environment.Variables.GENAI_CONFIG).models.primary).toBe(
        'eu.anthropic.claude-sonnet-4-20250514-v1:0',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
