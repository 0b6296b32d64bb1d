/**
 * How the functions are bundled (lib/constructs/base-function.ts): tree-shaken from the packages' ES module builds,
 * no source maps and no `NODE_OPTIONS` by default, and `observability.sourceMaps` turning both on together.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { parseConfig } from '../../config/schema';
import { functionBundling, functionNodeOptions, LAMBDA_CREDENTIALS_MODULE } from '../../lib/constructs/base-function';
import { resourcesOfType, synth } from './helpers';

const ROOT = path.join(__dirname, '..', '..');

/** The API's functions (those given the configuration), not CDK's own helper functions. */
const apiFunctions = (genai?: unknown) =>
  resourcesOfType(synth(genai).template, 'AWS::Lambda::Function').filter(
    ([, fn]) => fn.Environment?.Variables?.GENAI_CONFIG,
  );

describe('function bundling, by default', () => {
  const bundling = functionBundling(parseConfig({}));

  it('resolves packages to their ES module builds, so esbuild drops what a function does not use', () => {
    expect(bundling.mainFields).toEqual(['module', 'main']);
    expect(bundling.minify).toBe(true);
  });

  it('writes CommonJS, which loads Node built-ins without building an ES module facade for each', () => {
    expect(bundling.format).toBe(OutputFormat.CJS);
  });

  it('bundles the AWS SDK, with Lambda’s credential source in place of the default chain', () => {
    expect(bundling.bundleAwsSDK).toBe(true);
    expect(bundling.esbuildArgs?.['--alias']).toEqual([
      `@aws-sdk/credential-provider-node=${LAMBDA_CREDENTIALS_MODULE}`,
      `@aws-sdk/token-providers=${LAMBDA_CREDENTIALS_MODULE}`,
    ]);
    expect(fs.existsSync(path.join(ROOT, LAMBDA_CREDENTIALS_MODULE))).toBe(true);
  });

  it('has no source map and no NODE_OPTIONS, so loading a bundle parses no map', () => {
    expect(bundling.sourceMap).toBe(false);
    expect(functionNodeOptions(parseConfig({}))).toBeUndefined();
    const functions = apiFunctions();
    expect(functions.length).toBeGreaterThanOrEqual(14);
    for (const [id, fn] of functions) {
      expect([id, fn.Environment.Variables]).toEqual([
        id,
        expect.not.objectContaining({ NODE_OPTIONS: expect.anything() }),
      ]);
    }
  });
});

describe('observability.sourceMaps: true', () => {
  const config = parseConfig({ observability: { sourceMaps: true } });

  it('bundles a source map (without the sources) beside each bundle', () => {
    const bundling = functionBundling(config);
    expect(bundling.sourceMap).toBe(true);
    expect(bundling.sourcesContent).toBe(false);
  });

  it('turns on source-mapped stack traces in every function, and stays out of GENAI_CONFIG', () => {
    const functions = apiFunctions({ observability: { sourceMaps: true } });
    expect(functions.length).toBeGreaterThanOrEqual(14);
    for (const [id, fn] of functions) {
      expect([id, fn.Environment.Variables.NODE_OPTIONS]).toEqual([id, '--enable-source-maps']);
      expect(JSON.parse(fn.Environment.Variables.GENAI_CONFIG).observability).not.toHaveProperty('sourceMaps');
    }
  });

  it('is refused unless a boolean', () => {
    expect(() => parseConfig({ observability: { sourceMaps: 'yes' } })).toThrow(
      'observability.sourceMaps: must be true or false',
    );
  });
});
