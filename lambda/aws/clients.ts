/**
 * AWS SDK clients, created once per execution environment and reused across invocations.
 *
 * Endpoints come only from the SDK's own resolution (region, `AWS_ENDPOINT_URL_<SERVICE>`), so the same code talks
 * to AWS in Lambda and to the local stand-ins in `npm start` and the tests.
 */
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from '../../config/runtime';

let bedrock: BedrockRuntimeClient | undefined;
let documentClient: DynamoDBDocumentClient | undefined;

/**
 * Bedrock Runtime. `maxAttempts: 1`: retries and fallbacks are decided by the chat core, inside the call's deadline,
 * so SDK retries must not stack on top of them.
 */
export function bedrockClient(): BedrockRuntimeClient {
  bedrock ??= new BedrockRuntimeClient({
    region: process.env[ENV.bedrockRegion] || undefined,
    maxAttempts: 1,
  });
  return bedrock;
}

/** DynamoDB through the document client (plain JS values, no attribute-value maps). */
export function dynamoDocumentClient(): DynamoDBDocumentClient {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({ maxAttempts: 3 }), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documentClient;
}
