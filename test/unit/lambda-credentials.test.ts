/**
 * The identity source of the bundled functions (lambda/aws/lambda-credentials.ts), which the bundles use in place of
 * the SDK's default credential chain and token providers: the role's credentials Lambda puts in the environment.
 */
import {
  credentialsTreatedAsExpired,
  credentialsWillNeedRefresh,
  defaultProvider,
  fromEnvSigningName,
  nodeProvider,
} from '../../lambda/aws/lambda-credentials';

const LAMBDA_ENV = {
  AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'secret',
  AWS_SESSION_TOKEN: 'session',
};
const NAMES = [
  ...Object.keys(LAMBDA_ENV),
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_CREDENTIAL_SCOPE',
  'AWS_ACCOUNT_ID',
  'AWS_BEARER_TOKEN_BEDROCK',
];

let saved: Record<string, string | undefined>;
beforeEach(() => {
  saved = Object.fromEntries(NAMES.map((n) => [n, process.env[n]]));
  for (const n of NAMES) delete process.env[n];
});
afterEach(() => {
  for (const [n, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[n];
    else process.env[n] = v;
  }
});

describe('defaultProvider', () => {
  it('returns the credentials Lambda puts in the environment', async () => {
    Object.assign(process.env, LAMBDA_ENV);
    await expect(defaultProvider()()).resolves.toEqual({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'session',
    });
  });

  it('carries the expiration, scope and account when the environment has them', async () => {
    Object.assign(process.env, LAMBDA_ENV, {
      AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z',
      AWS_CREDENTIAL_SCOPE: 'us-east-1',
      AWS_ACCOUNT_ID: '123456789012',
    });
    const credentials = await defaultProvider()();
    expect(credentials.expiration).toEqual(new Date('2030-01-01T00:00:00Z'));
    expect(credentials).toMatchObject({ credentialScope: 'us-east-1', accountId: '123456789012' });
    expect(credentialsWillNeedRefresh(credentials)).toBe(true);
    expect(credentialsTreatedAsExpired(credentials)).toBe(false);
    expect(credentialsTreatedAsExpired({ ...credentials, expiration: new Date(Date.now() + 60_000) })).toBe(true);
  });

  it('fails naming the variables when there are none (outside Lambda)', async () => {
    await expect(defaultProvider()()).rejects.toMatchObject({
      name: 'CredentialsProviderError',
      message: expect.stringContaining('AWS_ACCESS_KEY_ID'),
    });
  });
});

describe('bearer tokens', () => {
  it('reads a service’s token from AWS_BEARER_TOKEN_<SIGNING NAME>, as the SDK does', async () => {
    process.env.AWS_BEARER_TOKEN_BEDROCK = 'token';
    await expect(fromEnvSigningName({ signingName: 'bedrock' })()).resolves.toEqual({ token: 'token' });
  });

  it('has none without the variable, and no SSO token', async () => {
    await expect(fromEnvSigningName({ signingName: 'bedrock' })()).rejects.toThrow('AWS_BEARER_TOKEN_BEDROCK');
    await expect(nodeProvider()()).rejects.toMatchObject({ name: 'TokenProviderError' });
  });
});
