/** GET /models: the model names an OpenAI client may send, configured ids first, then aliases (OpenAI's list shape). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { configuredModels } from '../../../config/models';
import { resolveCaller } from '../../core/identity';
import { jsonResponse, withResponseHeaders } from '../../core/http';
import { createLogger } from '../../core/observability';
import { toOpenAIError } from '../../core/openai/errors';
import { modelList } from '../../core/openai/response';
import { runtimeConfig } from '../../core/runtime';

const logger = createLogger();

const serve = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
  logger.addContext(context);
  try {
    resolveCaller(event);
    const config = runtimeConfig();
    return jsonResponse(200, modelList(configuredModels(config), config.models.aliases));
  } catch (err) {
    const openaiErr = toOpenAIError(err);
    if (openaiErr.status >= 500) logger.error('unexpected error', { error: err as Error });
    return jsonResponse(openaiErr.status, openaiErr.body, openaiErr.headers);
  }
};

export const handler = withResponseHeaders(serve);
