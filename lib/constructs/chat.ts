/**
 * The chat functions: `chat-stream` (SSE over a STREAM integration), `chat` (buffered baseline) and `openai-chat`
 * (OpenAI's `/chat/completions`, STREAM). Each guards every model call with the shared breaker and the user's token
 * budget, so each reads the users table, reads and writes the guard table, and may call exactly the configured models
 * (the OpenAI one also the models its aliases name). `models` (`GET /models`) only reads the configuration.
 */
import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { ENV } from '../../config/runtime';
import { type AppConfig, configuredModels, modelChain } from '../../config/schema';
import type { RouteHandlers } from './api';
import { BaseFunction } from './base-function';

/**
 * Extra time the buffered function gets beyond the gateway's integration timeout, so it can still log and settle the
 * token budget for a call the gateway has already answered with 504.
 */
export const SYNC_FUNCTION_GRACE = Duration.seconds(3);

export interface ChatFunctionsProps {
  /** The validated configuration. */
  readonly config: AppConfig;
  /** Breaker state and token budgets. Read and written. */
  readonly guardTable: ITable;
  /**
   * Memory of both functions. They relay tokens and do little work of their own.
   * @default 512
   */
  readonly memorySize?: number;
}

export class ChatFunctions extends Construct {
  /** `POST /chat/stream`: runs as long as the stream (config.chat.streamTimeoutSeconds). */
  public readonly chatStream: BaseFunction;
  /** `POST /chat`: config.chat.syncTimeoutSeconds plus a short grace. */
  public readonly chat: BaseFunction;
  /** `POST /chat/completions`: streams as long as chat-stream, and answers non-streaming calls too. */
  public readonly openaiChat: BaseFunction;
  /** `GET /models`: a list from the configuration. */
  public readonly models: BaseFunction;
  /** The functions by the route table's `functionName`. */
  public readonly handlers: RouteHandlers;

  constructor(scope: Construct, id: string, props: ChatFunctionsProps) {
    super(scope, id);
    const { config } = props;

    this.chatStream = new BaseFunction(this, 'ChatStream', {
      functionName: 'chat-stream',
      config,
      memorySize: props.memorySize,
      timeout: Duration.seconds(config.chat.streamTimeoutSeconds),
    });
    this.chat = new BaseFunction(this, 'Chat', {
      functionName: 'chat',
      config,
      memorySize: props.memorySize,
      timeout: Duration.seconds(config.chat.syncTimeoutSeconds).plus(SYNC_FUNCTION_GRACE),
    });

    this.openaiChat = new BaseFunction(this, 'OpenAIChat', {
      functionName: 'openai-chat',
      config,
      memorySize: props.memorySize,
      timeout: Duration.seconds(config.chat.streamTimeoutSeconds),
    });
    this.models = new BaseFunction(this, 'Models', {
      functionName: 'models',
      config,
      timeout: Duration.seconds(10),
    });

    for (const [fn, models] of [
      [this.chatStream, modelChain(config)],
      [this.chat, modelChain(config)],
      [this.openaiChat, configuredModels(config)],
    ] as const) {
      fn.useTable(ENV.guardTable, props.guardTable, 'readWrite').useBedrockModels(models, config.bedrockRegion);
    }

    this.handlers = {
      'chat-stream': this.chatStream.function,
      chat: this.chat.function,
      'openai-chat': this.openaiChat.function,
      models: this.models.function,
    };
  }
}
