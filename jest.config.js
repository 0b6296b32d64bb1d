/**
 * Tiers: unit (pure logic, in-memory fakes, no server), integration (the adapters against the local stand-ins:
 * condition expressions, races), infra (synthesised templates, cdk-nag), e2e (real HTTP against the local cloud),
 * clients (the TypeScript client and the `genai` CLI against the local cloud), browser (headless Chromium against the
 * local cloud: the playground, CORS).
 */
const tsJest = ['ts-jest', { tsconfig: { module: 'commonjs', isolatedModules: true }, diagnostics: false }];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': tsJest },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // ES module sources name their relative imports as they are emitted (`./errors.js`, clients/typescript/src), which
  // TypeScript, tsx and esbuild resolve to the `.ts` file: Jest is told the same.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
};

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    { ...common, displayName: 'clients', testMatch: ['<rootDir>/test/clients/**/*.test.ts'] },
    { ...common, displayName: 'browser', testMatch: ['<rootDir>/test/browser/**/*.test.ts'] },
  ],
  // Global only: Jest ignores it inside projects. Synths and local-cloud tests need more than the 5 s default.
  testTimeout: 60000,
};
