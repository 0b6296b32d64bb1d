/**
 * The API Gateway Lambda REQUEST authorizer on every method: maps the caller's API key (`Authorization: Bearer <key>`
 * or `x-api-key`) to its user and plan through the users table (key hashes only), and hands API Gateway the key for
 * the usage plans. The decision is `authorizeRequest` in `lambda/core/identity.ts`.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { AUTHORIZER_LOOKUP_CACHE_SECONDS } from '../../../config/auth';
import { ROUTES } from '../../../config/routes';
import { usersTable } from '../../aws/users-table';
import { authorizeRequest, KeyAuthority, UnauthorizedKeyError } from '../../core/identity';
import { createLogger } from '../../core/observability';

const logger = createLogger();
let authority: KeyAuthority | undefined;

export const handler = async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  authority ??= new KeyAuthority(usersTable(), AUTHORIZER_LOOKUP_CACHE_SECONDS * 1000);
  try {
    const { refusal, ...result } = await authorizeRequest(event, authority, ROUTES);
    if (refusal)
      logger.info('API key refused', { reason: refusal, resource: event.resource, method: event.httpMethod });
    return result;
  } catch (err) {
    if (err instanceof UnauthorizedKeyError) {
      logger.info('API key refused', { reason: err.reason, resource: event.resource, method: event.httpMethod });
    } else logger.error('authorizer failed', { error: err as Error });
    throw err;
  }
};
