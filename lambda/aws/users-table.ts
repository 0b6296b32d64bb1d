/**
 * The users table on DynamoDB: SHA-256 of an API key → user, plan and API key id. Read by the authorizer, written when
 * a key is issued. The key itself is never stored.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ENV, requireEnv } from '../../config/runtime';
import { TABLES } from '../../config/tables';
import { hashApiKey, type UserRecord, type UsersLookup } from '../core/identity';
import { dynamoDocumentClient } from './clients';

const PK = TABLES.users.partitionKey;

export class DynamoUsersTable implements UsersLookup {
  constructor(
    private readonly documentClient: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(keyHash: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.documentClient.send(
      new GetCommand({ TableName: this.tableName, Key: { [PK]: keyHash } }),
    );
    return Item;
  }
}

let users: DynamoUsersTable | undefined;

/** The deployment's users table (`USERS_TABLE_NAME`), built once per execution environment. */
export function usersTable(): UsersLookup {
  users ??= new DynamoUsersTable(dynamoDocumentClient(), requireEnv(ENV.usersTable));
  return users;
}

/** Registers an API key (by its hash) to a user and plan. Conditional: a key is registered once. */
export async function registerApiKey(
  record: { key: string; apiKeyId: string; userId: string; plan: string },
  deps: { documentClient?: DynamoDBDocumentClient; tableName: string; now?: Date },
): Promise<UserRecord> {
  const item: UserRecord = {
    keyHash: hashApiKey(record.key),
    apiKeyId: record.apiKeyId,
    userId: record.userId,
    plan: record.plan,
    createdAt: (deps.now ?? new Date()).toISOString(),
  };
  await (deps.documentClient ?? dynamoDocumentClient()).send(
    new PutCommand({ TableName: deps.tableName, Item: item, ConditionExpression: `attribute_not_exists(${PK})` }),
  );
  return item;
}
