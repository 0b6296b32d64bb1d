/**
 * Issuing an API key on a deployed stack (`genai keys create --stack …`): an API Gateway key tagged with the user and
 * plan, added to the plan's usage plan, and `{keyHash, apiKeyId, userId, plan, createdAt}` in the users table with a
 * conditional put. The table holds the key's SHA-256 only, which is what the API's authorizer looks a key up by. If a
 * step after CreateApiKey fails, the new key is deleted again.
 */
import {
  APIGatewayClient,
  CreateApiKeyCommand,
  CreateUsagePlanKeyCommand,
  DeleteApiKeyCommand,
} from '@aws-sdk/client-api-gateway';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { registerApiKey } from '../../lambda/aws/users-table';
import { OUTPUT_USAGE_PLAN_ID_PREFIX, OUTPUT_USERS_TABLE_NAME, usagePlanOutputKey } from '../../lib/outputs';
import { UsageError } from '../errors';
import { readStackOutputs, requiredOutput, type StackOutputs } from './stack';

export interface IssueKeyRequest {
  readonly userId: string;
  readonly plan: string;
  readonly stackName: string;
}

export interface StackTargets {
  readonly usagePlanId: string;
  readonly usersTableName: string;
}

/** Picks the plan's usage plan id and the users table name out of the stack outputs. */
export function targetsFromOutputs(outputs: StackOutputs, stackName: string, plan: string): StackTargets {
  const planKey = usagePlanOutputKey(plan);
  const usagePlanId = outputs.get(planKey);
  if (!usagePlanId) {
    const plans = [...outputs.keys()].filter((k) => k.startsWith(OUTPUT_USAGE_PLAN_ID_PREFIX)).join(', ') || 'none';
    throw new UsageError(
      `--plan "${plan}": stack ${stackName} has no usage plan for it (output ${planKey}; found: ${plans})`,
      'keys create',
    );
  }
  return { usagePlanId, usersTableName: requiredOutput(outputs, OUTPUT_USERS_TABLE_NAME, stackName) };
}

export interface AwsKeyClients {
  readonly cloudFormation: CloudFormationClient;
  readonly apiGateway: APIGatewayClient;
  readonly dynamo: DynamoDBDocumentClient;
}

/** Clients with the SDK's usual credentials, in `region` (else the SDK's: AWS_REGION, the profile). */
export function createAwsKeyClients(region?: string): AwsKeyClients {
  return {
    cloudFormation: new CloudFormationClient({ region }),
    apiGateway: new APIGatewayClient({ region }),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ region })),
  };
}

export interface IssuedKey {
  readonly apiKeyId: string;
  readonly key: string;
  readonly userId: string;
  readonly plan: string;
  readonly createdAt: string;
}

/** Creates the key, binds it to the plan, records its owner; deletes the key again if a later step fails. */
export async function issueAwsApiKey(
  clients: AwsKeyClients,
  request: IssueKeyRequest,
  now = new Date(),
  warn: (message: string) => void = (message) => process.stderr.write(`${message}\n`),
): Promise<IssuedKey> {
  const targets = targetsFromOutputs(
    await readStackOutputs(clients.cloudFormation, request.stackName),
    request.stackName,
    request.plan,
  );
  const createdAt = now.toISOString();
  const created = await clients.apiGateway.send(
    new CreateApiKeyCommand({
      name: `${request.userId}-${request.plan}-${createdAt.slice(0, 10)}`,
      description: `API key of ${request.userId} on plan ${request.plan}`,
      enabled: true,
      tags: { userId: request.userId, plan: request.plan },
    }),
  );
  if (!created.id || !created.value) throw new Error('CreateApiKey returned no id or value');
  try {
    await clients.apiGateway.send(
      new CreateUsagePlanKeyCommand({ usagePlanId: targets.usagePlanId, keyId: created.id, keyType: 'API_KEY' }),
    );
    await registerApiKey(
      { key: created.value, apiKeyId: created.id, userId: request.userId, plan: request.plan },
      { documentClient: clients.dynamo, tableName: targets.usersTableName, now },
    );
  } catch (err) {
    await clients.apiGateway.send(new DeleteApiKeyCommand({ apiKey: created.id })).catch((cleanup: unknown) => {
      warn(`Could not delete API key ${created.id} after the failure below; delete it by hand. (${String(cleanup)})`);
    });
    throw err;
  }
  return { apiKeyId: created.id, key: created.value, userId: request.userId, plan: request.plan, createdAt };
}
