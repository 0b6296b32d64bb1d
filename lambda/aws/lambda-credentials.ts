/**
 * Where the bundled SDK clients find their identity inside Lambda. The bundles use this module in place of
 * `@aws-sdk/credential-provider-node` and `@aws-sdk/token-providers` (esbuild aliases, see
 * `lib/constructs/base-function.ts`); the code run unbundled (the local cloud, the tests, the CLI) keeps the SDK's own.
 *
 * Lambda hands every execution environment its role's credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
 * `AWS_SESSION_TOKEN`, the first source of the SDK's default chain, which therefore never looks further there. The
 * rest of that chain (profiles, SSO, web identity, instance and container metadata) is about 100 KB of code and
 * three nested STS/SSO clients that a function would load at every cold start and never call. Bearer tokens for
 * Bedrock (`AWS_BEARER_TOKEN_BEDROCK`) are read as the SDK reads them; SSO tokens do not exist in Lambda.
 *
 * Exports the names the SDK clients import from the two packages, with the same behaviour for what Lambda provides.
 */

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
  readonly credentialScope?: string;
  readonly accountId?: string;
}

/** Raised when the environment holds no credentials (never in Lambda); named as the SDK names its own. */
class CredentialsProviderError extends Error {
  readonly tryNextLink = false;
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsProviderError';
  }
}

class TokenProviderError extends Error {
  readonly tryNextLink = false;
  constructor(message: string) {
    super(message);
    this.name = 'TokenProviderError';
  }
}

/** The credentials in the environment, read once (Lambda sets them before the runtime starts and never changes them). */
export const defaultProvider =
  (_init: unknown = {}) =>
  async (): Promise<Credentials> => {
    const env = process.env;
    const accessKeyId = env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey) {
      throw new CredentialsProviderError(
        'No credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: this bundle runs in AWS Lambda, which sets them',
      );
    }
    return {
      accessKeyId,
      secretAccessKey,
      ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }),
      ...(env.AWS_CREDENTIAL_EXPIRATION && { expiration: new Date(env.AWS_CREDENTIAL_EXPIRATION) }),
      ...(env.AWS_CREDENTIAL_SCOPE && { credentialScope: env.AWS_CREDENTIAL_SCOPE }),
      ...(env.AWS_ACCOUNT_ID && { accountId: env.AWS_ACCOUNT_ID }),
    };
  };

export const credentialsWillNeedRefresh = (credentials?: Credentials): boolean => credentials?.expiration !== undefined;

export const credentialsTreatedAsExpired = (credentials?: Credentials): boolean =>
  credentials?.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000;

/** A service's bearer token from `AWS_BEARER_TOKEN_<SIGNING NAME>`, as the SDK's provider of the same name reads it. */
export const fromEnvSigningName =
  ({ signingName }: { signingName?: string } = {}) =>
  async (): Promise<{ token: string }> => {
    if (!signingName) throw new TokenProviderError("Please pass 'signingName' to compute environment variable key");
    const key = `AWS_BEARER_TOKEN_${signingName.replace(/[\s-]/g, '_').toUpperCase()}`;
    const token = process.env[key];
    if (token === undefined) throw new TokenProviderError(`Token not present in '${key}' environment variable`);
    return { token };
  };

/** SSO tokens come from a profile's cache on disk, which Lambda has not: there is none. */
export const nodeProvider =
  (_init: unknown = {}) =>
  async (): Promise<never> => {
    throw new TokenProviderError('No SSO token in AWS Lambda: use the execution role or AWS_BEARER_TOKEN_<SERVICE>');
  };
