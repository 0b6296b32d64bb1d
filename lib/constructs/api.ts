/**
 * The public REST API: one API Gateway REST API whose resources, methods, request models and integrations come from
 * the route table (`config/routes.ts`), the same table the local gateway serves. Every method runs the Lambda REQUEST
 * authorizer (`lib/constructs/authorizer.ts`), which accepts the key as `Authorization: Bearer <key>` or `x-api-key`
 * and returns it to API Gateway (`apiKeySource: AUTHORIZER`), so each key still gets its usage plan per `config.plans`.
 *
 * Every answer carries `x-request-id` and, with `api.cors.allowOrigins` set, CORS headers (`config/headers.ts`): the
 * functions add them to theirs, the gateway responses below to API Gateway's own, and each route's resource gets an
 * `OPTIONS` method that answers preflights from a mock integration, without a key.
 */
import { Duration, Lazy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccessLogField,
  AccessLogFormat,
  ApiKeySourceType,
  AuthorizationType,
  type CfnMethod,
  EndpointType,
  type IResource,
  LambdaIntegration,
  LogGroupLogDestination,
  type Method,
  MethodLoggingLevel,
  type Model,
  Period,
  RequestAuthorizer,
  RequestValidator,
  ResponseTransferMode,
  ResponseType,
  RestApi,
  type ThrottleSettings,
  type UsagePlan,
} from 'aws-cdk-lib/aws-apigateway';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AUTHORIZER_RESULT_TTL_SECONDS, OPENAI_INVALID_API_KEY } from '../../config/auth';
import {
  allowsAnyOrigin,
  CORS_ALLOW_HEADERS,
  CORS_EXPOSE_HEADERS,
  type CorsSettings,
  corsEnabled,
  preflightMethods,
  REQUEST_ID_HEADER,
} from '../../config/headers';
import type { FunctionName, RouteDefinition } from '../../config/routes';
import type { AppConfig } from '../../config/schema';
import { modelSchemaFor } from '../api-models';
import { assertDistinctPlanKeys, pascalCase } from '../outputs';
import { retentionDays } from './base-function';

/** The functions that serve routes, by the route table's `functionName`. */
export type RouteHandlers = Partial<Record<FunctionName, IFunction>>;

/** The slice of the configuration the API reads. */
export type GenAiApiConfig = Pick<AppConfig, 'plans' | 'chat' | 'observability' | 'api'>;

export interface GenAiApiProps {
  /** The parts of the validated configuration it reads: usage plans, chat timeouts, log retention, CORS. */
  readonly config: GenAiApiConfig;
  /** The function of the Lambda REQUEST authorizer every method runs (`ApiKeyAuthorizerFunction`). */
  readonly authorizerFunction: IFunction;
  /**
   * Stage name: the first path segment of every URL.
   * @default 'v1'
   */
  readonly stageName?: string;
  /**
   * Stage-wide throttle across all keys, protecting Lambda concurrency and the Bedrock quota from the sum of all
   * clients (usage plans limit each key separately).
   * @default { rateLimit: 500, burstLimit: 1000 }
   */
  readonly stageThrottle?: ThrottleSettings;
}

export class GenAiApi extends Construct {
  public readonly restApi: RestApi;
  /** Access log (one JSON line per request). */
  public readonly accessLogGroup: LogGroup;
  /**
   * Validates the declared request parameters. Bodies are not validated here but by the function, see
   * `addGatewayResponses`.
   */
  public readonly requestValidator: RequestValidator;
  /** The Lambda REQUEST authorizer on every method: API key → user and plan, and the key for the usage plans. */
  public readonly authorizer: RequestAuthorizer;
  /** One usage plan per `config.plans` entry, by plan name. */
  public readonly usagePlans: Readonly<Record<string, UsagePlan>>;
  /** Methods added from the route table, by route id. */
  public readonly methods: Record<string, Method> = {};
  /** Request models, by route id. */
  public readonly models: Record<string, Model> = {};
  /** The `OPTIONS` methods answering CORS preflights, by resource path; none while `api.cors.allowOrigins` is empty. */
  public readonly preflightMethods: Record<string, Method> = {};

  private readonly config: GenAiApiConfig;
  /** The methods of the routes on each resource with a preflight method, read when the template is synthesised. */
  private readonly routeMethods = new Map<string, string[]>();

  constructor(scope: Construct, id: string, props: GenAiApiProps) {
    super(scope, id);
    const { config } = props;
    this.config = config;
    const stackName = Stack.of(this).stackName;

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: retentionDays(config.observability.logRetentionDays),
    });

    // No identity source and no result cache: with caching on, API Gateway requires every identity source and answers
    // 401 without calling the function when one is missing, but a key arrives in one of two headers (see
    // `config/auth.ts` for the API reference wording). The function caches its own key lookups instead.
    this.authorizer = new RequestAuthorizer(this, 'ApiKeyAuthorizer', {
      handler: props.authorizerFunction,
      identitySources: [],
      resultsCacheTtl: Duration.seconds(AUTHORIZER_RESULT_TTL_SECONDS),
    });

    const throttle = props.stageThrottle ?? { rateLimit: 500, burstLimit: 1000 };
    this.restApi = new RestApi(this, 'RestApi', {
      restApiName: stackName,
      description: 'Serverless GenAI API: streaming chat (SSE), synchronous chat, async reports',
      // Regional: no CloudFront hop in front of a token stream; clients pay for one TLS connection less.
      endpointTypes: [EndpointType.REGIONAL],
      // The authorizer returns the caller's key as `usageIdentifierKey`, whichever header it came in; API Gateway applies
      // that key's usage plan ("Choose an API key source in API Gateway"). `x-api-key` alone would miss Bearer keys.
      apiKeySourceType: ApiKeySourceType.AUTHORIZER,
      // The account-level role that lets API Gateway write execution logs (the feature flag turns it off by default).
      cloudWatchRole: true,
      defaultMethodOptions: {
        apiKeyRequired: true,
        authorizationType: AuthorizationType.CUSTOM,
        authorizer: this.authorizer,
      },
      deployOptions: {
        stageName: props.stageName ?? 'v1',
        tracingEnabled: true,
        metricsEnabled: true,
        // Errors only: execution logs at INFO cost more than the traffic they describe. Bodies are never logged.
        loggingLevel: MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
        accessLogDestination: new LogGroupLogDestination(this.accessLogGroup),
        accessLogFormat: AccessLogFormat.custom(
          // `$context.error.messageString` is the error message already written as a quoted JSON string, so it goes
          // in without quotes; the raw `$context.error.message` can hold quotes and would break the line's JSON.
          JSON.stringify({
            requestId: AccessLogField.contextRequestId(),
            requestTime: AccessLogField.contextRequestTimeEpoch(),
            ip: AccessLogField.contextIdentitySourceIp(),
            httpMethod: AccessLogField.contextHttpMethod(),
            resourcePath: AccessLogField.contextResourcePath(),
            protocol: AccessLogField.contextProtocol(),
            status: AccessLogField.contextStatus(),
            responseLength: AccessLogField.contextResponseLength(),
            responseLatency: AccessLogField.contextResponseLatency(),
            integrationStatus: AccessLogField.contextIntegrationStatus(),
            integrationLatency: AccessLogField.contextIntegrationLatency(),
            apiKeyId: AccessLogField.contextIdentityApiKeyId(),
            errorType: AccessLogField.contextErrorResponseType(),
            errorMessage: AccessLogField.contextErrorMessageString(),
            xrayTraceId: AccessLogField.contextXrayTraceId(),
          }).replace(`"${AccessLogField.contextErrorMessageString()}"`, AccessLogField.contextErrorMessageString()),
        ),
      },
    });

    this.requestValidator = new RequestValidator(this, 'Validator', {
      restApi: this.restApi,
      requestValidatorName: 'parameters',
      validateRequestBody: false,
      validateRequestParameters: true,
    });

    // RestApi adds an `Endpoint` output with a generated name; the stack exports the URL under a stable name instead.
    this.restApi.node.tryRemoveChild('Endpoint');

    this.addGatewayResponses(config.api.cors);
    this.usagePlans = this.addUsagePlans(stackName);
    this.acknowledgeFindings();
  }

  /** Adds every route, each served by the function its `functionName` names. */
  public addRoutes(routes: readonly RouteDefinition[], handlers: RouteHandlers): void {
    for (const route of routes) {
      const handler = handlers[route.functionName];
      if (!handler) {
        throw new Error(
          `Route ${route.method} ${route.path} (${route.id}) is served by function "${route.functionName}", ` +
            'but no construct in the stack provides it',
        );
      }
      this.addRoute(route, handler);
    }
  }

  /** Adds one route: resource, request model, validator, API key requirement, and the Lambda proxy integration. */
  public addRoute(route: RouteDefinition, handler: IFunction): Method {
    if (this.methods[route.id]) throw new Error(`Route id ${route.id} is used twice`);
    const stream = route.transferMode === 'STREAM';
    const integration = new LambdaIntegration(handler, {
      proxy: true,
      // STREAM: API Gateway invokes the function with InvokeWithResponseStream and relays bytes as they come, for up
      // to the stream timeout. BUFFERED: the classic proxy, at most 29 s.
      responseTransferMode: stream ? ResponseTransferMode.STREAM : undefined,
      timeout: Duration.seconds(stream ? this.config.chat.streamTimeoutSeconds : this.config.chat.syncTimeoutSeconds),
    });

    let model: Model | undefined;
    if (route.requestSchema) {
      model = this.restApi.addModel(`${route.id}RequestModel`, {
        modelName: `${route.id}Request`,
        contentType: 'application/json',
        description: `Body of ${route.method} ${route.path}`,
        schema: modelSchemaFor(route.requestSchema),
      });
      this.models[route.id] = model;
    }

    const resource = this.restApi.root.resourceForPath(route.path);
    const method = resource.addMethod(route.method, integration, {
      operationName: route.id,
      apiKeyRequired: true,
      authorizationType: AuthorizationType.CUSTOM,
      authorizer: this.authorizer,
      requestValidator: this.requestValidator,
      requestModels: model ? { 'application/json': model } : undefined,
      // Declared optional: validation requires nothing, but the gateway passes them on and documents them.
      requestParameters:
        route.requestHeaders || route.requestQueryParameters
          ? Object.fromEntries([
              ...(route.requestHeaders ?? []).map((h) => [`method.request.header.${h}`, false]),
              ...(route.requestQueryParameters ?? []).map((q) => [`method.request.querystring.${q}`, false]),
            ])
          : undefined,
    });
    this.methods[route.id] = method;
    this.allowPreflight(resource, route.method);
    return method;
  }

  /**
   * Lets browsers preflight `method` on `resource`: its `OPTIONS` method (created with the resource's first route)
   * allows the methods of every route on the resource. CDK's preflight is a MOCK integration without authorizer or
   * key, as the CORS protocol requires (a preflight never carries credentials). With several origins its template
   * answers the request's `Origin` when it is one of them; any other origin gets the first configured one, which the
   * browser refuses just the same, since it is not the page's.
   */
  private allowPreflight(resource: IResource, method: string): void {
    const cors = this.config.api.cors;
    if (!corsEnabled(cors.allowOrigins)) return;
    const known = this.routeMethods.get(resource.path);
    if (known) {
      known.push(method);
      return;
    }
    const methods = [method];
    this.routeMethods.set(resource.path, methods);
    const preflight = resource.addCorsPreflight({
      allowOrigins: [...cors.allowOrigins],
      // Lazy: routes added to the resource later join the list.
      allowMethods: [Lazy.string({ produce: () => preflightMethods(methods).join(',') })],
      allowHeaders: [...CORS_ALLOW_HEADERS],
      maxAge: Duration.seconds(cors.maxAgeSeconds),
    });
    // The preflight answers with the request id too. CDK writes only quoted constants into the mock's response
    // parameters, but an integration response may also map a context variable ("Parameter mapping source reference
    // for REST APIs in API Gateway").
    const cfn = preflight.node.defaultChild as CfnMethod;
    const header = `method\\.response\\.header\\.${REQUEST_ID_HEADER}`;
    cfn.addPropertyOverride(`Integration.IntegrationResponses.0.ResponseParameters.${header}`, 'context.requestId');
    cfn.addPropertyOverride(`MethodResponses.0.ResponseParameters.${header}`, true);
    const reason =
      'CORS preflight (OPTIONS): browsers send it without credentials, so it cannot carry the API key or run the ' +
      'authorizer; it is answered by a mock integration with fixed CORS headers, reaches no function and returns no data.';
    Validations.of(preflight).acknowledge({ id: 'AwsSolutions-APIG4', reason });
    Validations.of(preflight).acknowledge({ id: 'AwsSolutions-COG4', reason });
    this.preflightMethods[resource.path] = preflight;
  }

  /**
   * `x-request-id` and CORS on API Gateway's own errors. Bodies are left to API Gateway (`{"message": …}` for a missing
   * key 403 or a usage-plan 429, as the contract says), and request bodies are validated by the functions, not by the
   * gateway: a gateway response template is not run through VTL but supports only plain variable substitution (AWS,
   * "x-amazon-apigateway-gateway-responses.responseTemplates object"), so `$context.error.validationErrorString`,
   * whose text holds double quotes and values from the request (`object has missing required properties
   * (["message"])`), cannot be escaped into a JSON string, and its wording names no field. The functions answer the
   * same bodies with the contract's `400 VALIDATION_ERROR` and a message that names the field, before a stream
   * commits, exactly as the local cloud does. The request models stay on the methods as the API's description.
   *
   * The 4XX and 5XX defaults cover every response type not customised here (a throttle, a quota, a missing route, an
   * integration timeout).
   */
  private addGatewayResponses(cors: CorsSettings): void {
    const headers = { [REQUEST_ID_HEADER]: 'context.requestId', ...gatewayCorsHeaders(cors.allowOrigins) };
    const json = (body: unknown) => ({ 'application/json': JSON.stringify(body) });
    // The authorizer's Deny (routes without `errorStyle: 'openai'`): API Gateway would say "User is not authorized to
    // access this resource with an explicit deny"; the contract's answer for a missing or unknown key is API Gateway's
    // own one for a missing key.
    this.restApi.addGatewayResponse('AccessDenied', {
      type: ResponseType.ACCESS_DENIED,
      statusCode: '403',
      responseHeaders: headers,
      templates: json({ message: 'Forbidden' }),
    });
    // The authorizer's `Unauthorized` failure, which it raises only on `errorStyle: 'openai'` routes (with no identity
    // source configured API Gateway never answers 401 on its own): OpenAI's error for a bad key.
    this.restApi.addGatewayResponse('Unauthorized', {
      type: ResponseType.UNAUTHORIZED,
      statusCode: '401',
      responseHeaders: { ...headers, 'WWW-Authenticate': "'Bearer'" },
      templates: json(OPENAI_INVALID_API_KEY),
    });
    this.restApi.addGatewayResponse('Default4xx', { type: ResponseType.DEFAULT_4XX, responseHeaders: headers });
    this.restApi.addGatewayResponse('Default5xx', { type: ResponseType.DEFAULT_5XX, responseHeaders: headers });
  }

  private addUsagePlans(stackName: string): Record<string, UsagePlan> {
    assertDistinctPlanKeys(Object.keys(this.config.plans));
    const plans: Record<string, UsagePlan> = {};
    for (const [name, plan] of Object.entries(this.config.plans)) {
      plans[name] = this.restApi.addUsagePlan(`UsagePlan${pascalCase(name)}`, {
        name: `${stackName}-${name}`,
        description: `Plan "${name}": ${plan.rateLimit} req/s, burst ${plan.burstLimit}, ${plan.requestsPerDay} requests/day`,
        throttle: { rateLimit: plan.rateLimit, burstLimit: plan.burstLimit },
        quota: { limit: plan.requestsPerDay, period: Period.DAY },
        apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
      });
    }
    return plans;
  }

  private acknowledgeFindings(): void {
    const auth =
      'Clients authenticate with API keys (Authorization: Bearer or x-api-key), checked by a Lambda REQUEST authorizer ' +
      'against hashed keys and bound to usage plans, by design: the key identifies the user server-side and carries ' +
      'per-user throttles and quotas. There are no end-user identities to put in Cognito.';
    Validations.of(this.restApi).acknowledge({ id: 'AwsSolutions-COG4', reason: auth });
    Validations.of(this.restApi.deploymentStage).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'WAF is optional for this reference API: per-key usage plans, a stage-wide throttle and request validation ' +
        'are the built-in protections. Associate a web ACL with the stage where an organisation requires one.',
    });
    Validations.of(this.restApi).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Request parameters are validated by the gateway; request bodies by the functions, against the same contract ' +
        'the request models describe, because API Gateway cannot put its validator message into a JSON error body ' +
        'and does not name the field. A rejected body still costs no model call and gets a 400 before a stream starts.',
    });
    const cloudWatchRole = this.restApi.node.findChild('CloudWatchRole');
    Validations.of(cloudWatchRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'The API Gateway CloudWatch role is one account-wide setting shared by every REST API in the Region; AWS ' +
        'documents this managed policy for it. A policy scoped to this API would break logging of the others.',
    });
  }
}

/**
 * CORS headers of API Gateway's own errors, as gateway response parameter mappings (a quoted constant, or a request
 * parameter). A gateway response cannot choose a value by condition, so with several origins it echoes the request's
 * `Origin`, allowed or not: these answers (a missing key, a throttle, a timeout) carry no data, and a page on another
 * origin only learns that the call failed, which it could tell anyway. One origin, or any, is a constant.
 */
function gatewayCorsHeaders(allowOrigins: readonly string[]): Record<string, string> {
  if (!corsEnabled(allowOrigins)) return {};
  const quoted = (value: string) => `'${value}'`;
  const expose = { 'Access-Control-Expose-Headers': quoted(CORS_EXPOSE_HEADERS.join(',')) };
  if (allowsAnyOrigin(allowOrigins) || allowOrigins.length === 1) {
    return { 'Access-Control-Allow-Origin': quoted(allowOrigins[0]), ...expose };
  }
  return { 'Access-Control-Allow-Origin': 'method.request.header.Origin', Vary: quoted('Origin'), ...expose };
}
