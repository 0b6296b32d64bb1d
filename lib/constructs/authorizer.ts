/**
 * The function behind the API's Lambda REQUEST authorizer (`lambda/functions/authorizer/handler.ts`): it maps an API
 * key (`Authorization: Bearer` or `x-api-key`) to its user and plan through the users table, which holds only key
 * hashes, and returns the key to API Gateway for the usage plans. `GenAiApi` attaches it to every method.
 */
import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ENV } from '../../config/runtime';
import type { AppConfig } from '../../config/schema';
import { BaseFunction } from './base-function';

export interface ApiKeyAuthorizerProps {
  /** The validated configuration. */
  readonly config: AppConfig;
  /** Key hash → user and plan. Read only. */
  readonly usersTable: ITable;
}

export class ApiKeyAuthorizerFunction extends Construct {
  public readonly fn: BaseFunction;
  /** The Lambda function `GenAiApi` uses as its authorizer. */
  public readonly function: IFunction;

  constructor(scope: Construct, id: string, props: ApiKeyAuthorizerProps) {
    super(scope, id);
    this.fn = new BaseFunction(this, 'Authorizer', {
      functionName: 'authorizer',
      config: props.config,
      // One hash and at most one GetItem per request (none while the key is in its cache): small and quick.
      memorySize: 256,
      timeout: Duration.seconds(10),
      description: `${props.config.observability.serviceName} API key authorizer`,
    }).useTable(ENV.usersTable, props.usersTable, 'read');
    this.function = this.fn.function;
  }
}
