/**
 * The stack: a composition of constructs, one per concern. To add a concern (reports pipeline, guard), create its
 * construct here, pass it the tables it needs, and merge its route handlers into `handlers` before `addRoutes`.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ROUTES } from '../config/routes';
import { type AppConfig, modelChain } from '../config/schema';
import { type RouteHandlers, GenAiApi } from './constructs/api';
import { ApiKeyAuthorizerFunction } from './constructs/authorizer';
import { ChatFunctions } from './constructs/chat';
import { Feedback } from './constructs/feedback';
import { GuardTables } from './constructs/guard-tables';
import { lambdaFunctionsIn, Observability, reportsDeadLetterQueues } from './constructs/observability';
import { ReportsPipeline } from './constructs/reports-pipeline';
import { ResponseCacheTable } from './constructs/response-cache';
import { StreamLog } from './constructs/stream-log';
import {
  OUTPUT_ALARM_TOPIC_ARN,
  OUTPUT_API_ID,
  OUTPUT_API_URL,
  OUTPUT_GUARD_TABLE_NAME,
  OUTPUT_USERS_TABLE_NAME,
  usagePlanOutputKey,
} from './outputs';

export interface GenAiApiStackProps extends StackProps {
  /** The validated configuration (`parseConfig`). */
  readonly config: AppConfig;
}

export class GenAiApiStack extends Stack {
  public readonly config: AppConfig;
  public readonly tables: GuardTables;
  public readonly chat: ChatFunctions;
  public readonly reports: ReportsPipeline;
  public readonly feedback: Feedback;
  public readonly streams: StreamLog;
  /** The response cache's table; unset unless `cache.enabled`. */
  public readonly responseCache?: ResponseCacheTable;
  public readonly api: GenAiApi;
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: GenAiApiStackProps) {
    const { config, ...stackProps } = props;
    super(scope, id, {
      description: 'Serverless GenAI API: streaming chat, synchronous chat, shared circuit breaker, per-user limits',
      ...stackProps,
    });
    this.config = config;

    this.tables = new GuardTables(this, 'Tables');
    this.chat = new ChatFunctions(this, 'Chat', { config, guardTable: this.tables.guardTable });
    this.reports = new ReportsPipeline(this, 'Reports', { config, guardTable: this.tables.guardTable });
    // Every function that answers a request records who it belongs to, so its owner can rate it.
    this.feedback = new Feedback(this, 'Feedback', { config });
    const { chatStream, chat, openaiChat } = this.chat;
    this.feedback.recordRequestsOf(chatStream, chat, openaiChat, this.reports.worker);
    // The streaming functions log their answers (resume) and learn of cancels from the log.
    this.streams = new StreamLog(this, 'Streams', { config });
    this.streams.writtenBy(chatStream, openaiChat);
    // Every function that calls a model serves and stores answers of the response cache, when it is on.
    if (config.cache.enabled) {
      this.responseCache = new ResponseCacheTable(this, 'ResponseCache');
      this.responseCache.usedBy(chatStream, chat, openaiChat, this.reports.worker);
    }
    const authorizer = new ApiKeyAuthorizerFunction(this, 'Auth', { config, usersTable: this.tables.usersTable });
    this.api = new GenAiApi(this, 'Api', { config, authorizerFunction: authorizer.function });

    const handlers: RouteHandlers = {
      ...this.chat.handlers,
      ...this.reports.handlers,
      ...this.feedback.handlers,
      ...this.streams.handlers,
    };
    this.api.addRoutes(ROUTES, handlers);

    // Last, so that it finds every function of the stack.
    this.observability = new Observability(this, 'Observability', {
      observability: config.observability,
      models: modelChain(config),
      restApi: this.api.restApi,
      functions: lambdaFunctionsIn(this),
      deadLetterQueues: reportsDeadLetterQueues(this.reports, config.reports),
      workQueues: { ReportJobs: this.reports.jobQueue },
      responseCache: config.cache.enabled,
      tables: {
        Users: this.tables.usersTable,
        Guard: this.tables.guardTable,
        Reports: this.reports.table,
        Requests: this.feedback.requestsTable,
        Streams: this.streams.table,
        ...(this.responseCache ? { ResponseCache: this.responseCache.table } : {}),
      },
    });

    new CfnOutput(this, OUTPUT_API_URL, {
      value: this.api.restApi.url,
      description: 'Base URL of the API (stage included)',
    });
    new CfnOutput(this, OUTPUT_API_ID, { value: this.api.restApi.restApiId, description: 'REST API id' });
    new CfnOutput(this, OUTPUT_USERS_TABLE_NAME, {
      value: this.tables.usersTable.tableName,
      description: 'API key hash -> user and plan (written by genai keys create)',
    });
    new CfnOutput(this, OUTPUT_GUARD_TABLE_NAME, {
      value: this.tables.guardTable.tableName,
      description: 'Circuit-breaker state and token budgets',
    });
    new CfnOutput(this, OUTPUT_ALARM_TOPIC_ARN, {
      value: this.observability.alarmTopic.topicArn,
      description: 'SNS topic every alarm notifies (subscribe on-call channels to it)',
    });
    for (const [name, plan] of Object.entries(this.api.usagePlans)) {
      new CfnOutput(this, usagePlanOutputKey(name), {
        value: plan.usagePlanId,
        description: `Usage plan id of plan "${name}"`,
      });
    }
  }
}
