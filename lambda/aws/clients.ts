/**
 * AWS SDK clients, created once per execution environment and reused across invocations.
 *
 * Endpoints come only from the SDK's own resolution (region, `AWS_ENDPOINT_URL_<SERVICE>`), so the same code talks
 * to AWS in Lambda and to the local stand-ins in `npm start` and the tests.
 */
import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
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

let sqs: SQSClient | undefined;
let eventBridge: EventBridgeClient | undefined;
let secretsManager: SecretsManagerClient | undefined;

/**
 * SQS. `useQueueUrlAsEndpoint: false`: requests go to the regional endpoint (or `AWS_ENDPOINT_URL_SQS`) rather than to
 * the host inside a queue URL, which is the same on AWS and keeps local queue URLs (`sqs.<region>.localhost`) usable.
 */
export function sqsClient(): SQSClient {
  sqs ??= new SQSClient({ maxAttempts: 3, useQueueUrlAsEndpoint: false });
  return sqs;
}

export function eventBridgeClient(): EventBridgeClient {
  eventBridge ??= new EventBridgeClient({ maxAttempts: 3 });
  return eventBridge;
}

export function secretsManagerClient(): SecretsManagerClient {
  secretsManager ??= new SecretsManagerClient({ maxAttempts: 3 });
  return secretsManager;
}
