/** The users table on DynamoDB: API key id → user and plan. Read by every API function, written when a key is issued. */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV, requireEnv } from '../../config/runtime';
import type { UserRecord, UsersLookup } from '../core/identity';
import { dynamoDocumentClient } from './clients';

export class DynamoUsersTable implements UsersLookup {
  constructor(
    private readonly documentClient: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(apiKeyId: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.documentClient.send(new GetCommand({ TableName: this.tableName, Key: { apiKeyId } }));
    return Item;
  }
}

let users: DynamoUsersTable | undefined;

/** The deployment's users table (`USERS_TABLE_NAME`), built once per execution environment. */
export function usersTable(): UsersLookup {
  users ??= new DynamoUsersTable(dynamoDocumentClient(), requireEnv(ENV.usersTable));
  return users;
}

/** Registers an API key id to a user and plan. Conditional: a key id is registered once. */
export async function registerApiKey(
  record: Omit<UserRecord, 'createdAt'>,
  deps: { documentClient?: DynamoDBDocumentClient; tableName: string; now?: Date },
): Promise<UserRecord> {
  const item: UserRecord = { ...record, createdAt: (deps.now ?? new Date()).toISOString() };
  await (deps.documentClient ?? dynamoDocumentClient()).send(
    new PutCommand({ TableName: deps.tableName, Item: item, ConditionExpression: 'attribute_not_exists(apiKeyId)' }),
  );
  return item;
}
