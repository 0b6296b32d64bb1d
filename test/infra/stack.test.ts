import { Match } from 'aws-cdk-lib/assertions';
import { App, Stack } from 'aws-cdk-lib';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { z } from 'zod';
import { chatRequestSchema } from '../../config/contract';
import { ROUTES } from '../../config/routes';
import { parseConfig } from '../../config/schema';
import { GenAiApi } from '../../lib/constructs/api';
import {
  OUTPUT_API_ID,
  OUTPUT_API_URL,
  OUTPUT_GUARD_TABLE_NAME,
  OUTPUT_USAGE_PLAN_ID_PREFIX,
  OUTPUT_USERS_TABLE_NAME,
  usagePlanOutputKey,
} from '../../lib/outputs';
import { resourcesOfType, synth } from './helpers';

const { template } = synth();
const methods = resourcesOfType(template, 'AWS::ApiGateway::Method');
const functions = resourcesOfType(template, 'AWS::Lambda::Function');

/** The logical id of the function whose environment names `description`. */
function functionId(description: string): string {
  const found = functions.find(([, p]) => p.Description === `genai-api ${description}`);
  if (!found) throw new Error(`no function ${description}`);
  return found[0];
}

/** The two chat functions (other constructs may add more functions to the stack). */
function chatFunctions(): [string, Record<string, any>][] {
  return functions.filter(([id]) => [functionId('chat-stream'), functionId('chat')].includes(id));
}

/** The method for a route path (resource path segments as CDK names them). */
function methodFor(path: string): Record<string, any> {
  const resources = resourcesOfType(template, 'AWS::ApiGateway::Resource');
  const last = path.split('/').filter(Boolean).pop();
  const propsOf = (id: string) => resources.find(([rid]) => rid === id)?.[1];
  const candidates = resources.filter(([, r]) => r.PathPart === last).map(([id]) => id);
  const resourceId = candidates.find((id) => {
    // Walk up through the parent resources (the root is not one) and compare the full path.
    const parts: string[] = [];
    let current: Record<string, any> | undefined = propsOf(id);
    while (current) {
      parts.unshift(current.PathPart);
      const ref = current.ParentId?.Ref as string | undefined;
      current = ref ? propsOf(ref) : undefined;
    }
    return '/' + parts.join('/') === path;
  });
  const method = methods.find(([, m]) => m.ResourceId?.Ref === resourceId);
  if (!method) throw new Error(`no method for ${path}`);
  return method[1];
}

function uriParts(method: Record<string, any>): string {
  return JSON.stringify(method.Integration.Uri);
}

describe('chat routes', () => {
  it('streams /chat/stream through the response-streaming invocation with a 15-minute timeout', () => {
    const m = methodFor('/chat/stream');
    expect(m.HttpMethod).toBe('POST');
    expect(m.Integration).toMatchObject({ Type: 'AWS_PROXY', ResponseTransferMode: 'STREAM', TimeoutInMillis: 900000 });
    expect(uriParts(m)).toContain('/2021-11-15/functions/');
    expect(uriParts(m)).toContain('/response-streaming-invocations');
    expect(uriParts(m)).toContain(functionId('chat-stream'));
  });

  it('serves /chat with the classic buffered proxy and the synchronous timeout', () => {
    const m = methodFor('/chat');
    expect(m.Integration.ResponseTransferMode ?? 'BUFFERED').toBe('BUFFERED');
    expect(m.Integration).toMatchObject({ Type: 'AWS_PROXY', TimeoutInMillis: 29000 });
    expect(uriParts(m)).toContain('/invocations');
    expect(uriParts(m)).not.toContain('response-streaming');
    expect(uriParts(m)).toContain(functionId('chat'));
  });

  it('creates one method per route in the route table, each requiring an API key (see auth.test.ts)', () => {
    expect(methods).toHaveLength(ROUTES.length);
    for (const [, m] of methods) expect(m.ApiKeyRequired).toBe(true);
  });

  it('describes bodies with a model generated from the contract and leaves validating them to the functions', () => {
    // The functions answer a bad body with the contract's 400 naming the field, as the local cloud does.
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: false,
      ValidateRequestParameters: true,
    });
    const models = resourcesOfType(template, 'AWS::ApiGateway::Model');
    const withSchema = ROUTES.filter((r) => r.requestSchema);
    expect(models).toHaveLength(withSchema.length);
    for (const route of withSchema) {
      const [id, m] = models.find(([, model]) => model.Name === `${route.id}Request`)!;
      expect(m.Schema).toEqual(z.toJSONSchema(route.requestSchema!, { target: 'draft-4' }));
      expect(methodFor(route.path).RequestModels).toEqual({ 'application/json': { Ref: id } });
    }
    // The chat model rejects what the contract rejects: a missing message, unknown fields.
    const chat = models.find(([, m]) => m.Name === 'ChatStreamRequest')![1];
    expect(chat.Schema).toEqual(z.toJSONSchema(chatRequestSchema, { target: 'draft-4' }));
    expect(chat.Schema).toMatchObject({ required: ['message'], additionalProperties: false });
    for (const [, method] of methods) expect(method.RequestValidatorId).toBeDefined();
  });
});

/**
 * Renders a gateway response template or an access log format the way API Gateway does: plain `$context` variable
 * substitution, no VTL (AWS, "x-amazon-apigateway-gateway-responses.responseTemplates object"). `messageString` is the
 * message as a quoted JSON string. An unknown variable fails, so a new one gets a realistic value here first.
 */
function renderGatewayTemplate(text: string, error: { message: string; validationErrorString?: string }): string {
  const values: Record<string, string> = {
    'context.error.message': error.message,
    'context.error.messageString': JSON.stringify(error.message),
    'context.error.validationErrorString': error.validationErrorString ?? '',
    'context.error.responseType': 'BAD_REQUEST_BODY',
    'context.requestId': 'c0ffee00-1111-2222-3333-444455556666',
    'context.requestTimeEpoch': '1764460800000',
    'context.identity.sourceIp': '203.0.113.7',
    'context.httpMethod': 'POST',
    'context.resourcePath': '/chat/stream',
    'context.protocol': 'HTTP/1.1',
    'context.status': '400',
    'context.responseLength': '120',
    'context.responseLatency': '12',
    'context.integrationStatus': '-',
    'context.integrationLatency': '-',
    'context.identity.apiKeyId': 'abcdef1234',
    'context.xrayTraceId': '1-5759e988-bd862e3fe1be46a994272793',
  };
  return text.replace(/\$(context(?:\.[A-Za-z]+)+)/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`no test value for $${name}`);
    return values[name];
  });
}

/** Messages API Gateway produces, with the double quotes, brackets and request values its validator writes. */
const GATEWAY_ERRORS = [
  { message: 'Invalid request body', validationErrorString: '[object has missing required properties (["message"])]' },
  {
    message: 'Invalid request body',
    validationErrorString:
      '[instance value ("it\'s a \\ "system"") not found in enum (possible values: ["user","assistant"])]',
  },
  {
    message: 'Invalid request body',
    validationErrorString:
      '[object instance has properties which are not allowed by the schema: ["extra"], instance type (string) does not match any allowed primitive type (allowed: ["integer"])]',
  },
  { message: 'Forbidden' },
  { message: 'Missing Authentication Token' },
  { message: 'Limit Exceeded' },
  {
    message:
      "Invalid key=value pair (missing equal-sign) in Authorization header (hashed with SHA-256 and encoded with Base64): 'x='.",
  },
  { message: 'Unexpected "character" \\ at line\n2' },
];

describe('gateway responses', () => {
  const responses = resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse');

  it('are valid JSON for every message API Gateway may put in them', () => {
    expect(responses.length).toBeGreaterThan(0);
    const invalid: string[] = [];
    for (const [id, r] of responses) {
      // Without a template, API Gateway answers with its own default one.
      const templates: Record<string, string> = r.ResponseTemplates ?? {
        'application/json': '{"message":$context.error.messageString}',
      };
      for (const body of Object.values(templates)) {
        for (const error of GATEWAY_ERRORS) {
          const rendered = renderGatewayTemplate(body, error);
          try {
            JSON.parse(rendered);
          } catch {
            invalid.push(`${id}: ${rendered}`);
          }
        }
      }
    }
    expect(invalid).toEqual([]);
  });

  it("adds the request id to API Gateway's own 4XX/5XX errors and keeps their {message} body", () => {
    // CORS headers join them only with api.cors.allowOrigins (test/infra/cors.test.ts).
    for (const type of ['DEFAULT_4XX', 'DEFAULT_5XX']) {
      template.hasResourceProperties('AWS::ApiGateway::GatewayResponse', {
        ResponseType: type,
        ResponseParameters: { 'gatewayresponse.header.x-request-id': 'context.requestId' },
        ResponseTemplates: Match.absent(),
      });
    }
  });
});

describe('stage', () => {
  it('writes every access log line as JSON, whatever the error message', () => {
    const [, stage] = resourcesOfType(template, 'AWS::ApiGateway::Stage')[0];
    for (const error of GATEWAY_ERRORS) {
      const line = JSON.parse(renderGatewayTemplate(stage.AccessLogSetting.Format, error));
      expect(line).toMatchObject({ errorMessage: error.message, apiKeyId: 'abcdef1234', status: '400' });
    }
  });

  it('traces with X-Ray, logs access as JSON and errors, and throttles the whole stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      AccessLogSetting: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('"apiKeyId":"\\$context.identity.apiKeyId"'),
      },
      MethodSettings: [
        Match.objectLike({
          HttpMethod: '*',
          ResourcePath: '/*',
          LoggingLevel: 'ERROR',
          ThrottlingRateLimit: 500,
          ThrottlingBurstLimit: 1000,
        }),
      ],
    });
    template.resourceCountIs('AWS::ApiGateway::Account', 1);
  });
});

describe('functions', () => {
  it('run Node.js 24 on ARM64 with active tracing and their own log group with the configured retention', () => {
    expect(functions.length).toBeGreaterThanOrEqual(2);
    const logGroups = resourcesOfType(template, 'AWS::Logs::LogGroup');
    for (const [, f] of functions) {
      expect(f).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
      const logGroup = logGroups.find(([id]) => id === f.LoggingConfig.LogGroup.Ref);
      expect(logGroup?.[1].RetentionInDays).toBe(30);
    }
  });

  it('get the configuration, Powertools settings, table names and Bedrock Region (chat)', () => {
    expect(chatFunctions()).toHaveLength(2);
    for (const [, f] of chatFunctions()) {
      const env = f.Environment.Variables;
      expect(JSON.parse(env.GENAI_CONFIG)).toMatchObject({ models: { primary: expect.any(String) } });
      expect(env).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'genai-api',
        POWERTOOLS_METRICS_NAMESPACE: 'GenAiApi',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        GUARD_TABLE_NAME: { Ref: expect.stringMatching(/^TablesGuard/) },
        BEDROCK_REGION: { Ref: 'AWS::Region' },
      });
      // No source maps by default (observability.sourceMaps, see test/infra/bundling.test.ts).
      expect(env.NODE_OPTIONS).toBeUndefined();
      // The caller comes from the API key authorizer's context; the users table is the authorizer's alone.
      expect(env.USERS_TABLE_NAME).toBeUndefined();
    }
  });

  it('time out with the stream (chat-stream) or just after the synchronous limit (chat)', () => {
    expect(functions.find(([id]) => id === functionId('chat-stream'))?.[1].Timeout).toBe(900);
    expect(functions.find(([id]) => id === functionId('chat'))?.[1].Timeout).toBe(32);
  });

  it('use roles without AWS managed policies', () => {
    for (const [, role] of resourcesOfType(template, 'AWS::IAM::Role')) {
      const lambda = JSON.stringify(role.AssumeRolePolicyDocument).includes('lambda.amazonaws.com');
      if (lambda) expect(role.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('tables', () => {
  it('are on-demand, encrypted with a KMS key and point-in-time recoverable', () => {
    const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
    expect(tables.length).toBeGreaterThanOrEqual(2);
    for (const [, t] of tables) {
      expect(t).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      });
    }
  });

  it('key users by the hash of their API key and keep them when the stack goes', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: Match.objectLike({ KeySchema: [{ AttributeName: 'keyHash', KeyType: 'HASH' }] }),
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('expire guard items on expiresAt', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('the guard table is read-written by both chat functions, which cannot read the users table', () => {
    const policies = resourcesOfType(template, 'AWS::IAM::Policy');
    for (const [, f] of chatFunctions()) {
      const roleRef = f.Role['Fn::GetAtt'][0];
      const statements = policies
        .filter(([, p]) => p.Roles.some((r: { Ref: string }) => r.Ref === roleRef))
        .flatMap(([, p]) => p.PolicyDocument.Statement);
      const on = (table: RegExp) =>
        statements.filter((s) => table.test(JSON.stringify(s.Resource))).flatMap((s) => s.Action);
      expect(on(/TablesUsers/)).toEqual([]);
      expect(on(/TablesGuard/)).toEqual(
        expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:PutItem']),
      );
    }
  });
});

describe('usage plans and outputs', () => {
  it('create one usage plan per configured plan on the deployment stage', () => {
    template.resourceCountIs('AWS::ApiGateway::UsagePlan', 2);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'GenAiApi-free',
      Throttle: { RateLimit: 2, BurstLimit: 5 },
      Quota: { Limit: 1000, Period: 'DAY' },
      ApiStages: [Match.objectLike({ Stage: { Ref: Match.stringLikeRegexp('DeploymentStage') } })],
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      UsagePlanName: 'GenAiApi-pro',
      Throttle: { RateLimit: 50, BurstLimit: 100 },
      Quota: { Limit: 100000, Period: 'DAY' },
    });
  });

  it('export the URL, the users table and each usage plan id under stable names', () => {
    const outputs = template.toJSON().Outputs as Record<string, unknown>;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        OUTPUT_API_ID,
        OUTPUT_API_URL,
        OUTPUT_GUARD_TABLE_NAME,
        usagePlanOutputKey('free'),
        usagePlanOutputKey('pro'),
        OUTPUT_USERS_TABLE_NAME,
      ]),
    );
    // The names scripts and operators use, spelled out once here so a rename is a deliberate change.
    expect([
      OUTPUT_API_ID,
      OUTPUT_API_URL,
      OUTPUT_GUARD_TABLE_NAME,
      usagePlanOutputKey('pro'),
      OUTPUT_USERS_TABLE_NAME,
    ]).toEqual(['ApiId', 'ApiUrl', 'GuardTableName', 'UsagePlanIdPro', 'UsersTableName']);
    expect(Object.keys(outputs).filter((k) => k.startsWith(OUTPUT_USAGE_PLAN_ID_PREFIX))).toHaveLength(2);
    // No generated `ApiRestApiEndpoint…` output beside the stable ApiUrl.
    expect(Object.keys(outputs).filter((k) => k.includes('Endpoint'))).toEqual([]);
  });
});

describe('Bedrock permissions', () => {
  const account = '123456789012';
  const { template: t } = synth(
    {
      bedrockRegion: 'eu-west-1',
      models: {
        primary: 'eu.anthropic.claude-sonnet-4-20250514-v1:0',
        fallbacks: [
          'amazon.nova-pro-v1:0',
          'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123',
        ],
      },
    },
    { account, region: 'eu-central-1' },
  );

  it('name exactly the configured models and profiles, for both chat functions, and no "*" resource', () => {
    const chatRoles = resourcesOfType(t, 'AWS::Lambda::Function')
      .filter(([, f]) => ['genai-api chat-stream', 'genai-api chat'].includes(f.Description))
      .map(([, f]) => f.Role['Fn::GetAtt'][0] as string);
    expect(chatRoles).toHaveLength(2);
    const bedrockStatements = resourcesOfType(t, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Roles.some((r: { Ref: string }) => chatRoles.includes(r.Ref)))
      .flatMap(([, p]) => p.PolicyDocument.Statement as Record<string, any>[])
      .filter((s) => [s.Action].flat().some((a: string) => a.startsWith('bedrock:')));
    expect(bedrockStatements).toHaveLength(2);
    for (const s of bedrockStatements) {
      expect([s.Action].flat().sort()).toEqual(['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream']);
      expect([...s.Resource].sort()).toEqual(
        [
          'arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-20250514-v1:0',
          'arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0',
          'arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0',
          'arn:aws:bedrock:eu-west-1:123456789012:application-inference-profile/abc123',
        ].sort(),
      );
    }
    const everyResource = resourcesOfType(t, 'AWS::IAM::Policy').flatMap(([, p]) =>
      (p.PolicyDocument.Statement as Record<string, any>[])
        .filter((s) => s.Resource === '*')
        .flatMap((s) => [s.Action].flat()),
    );
    expect(everyResource.every((a: string) => a.startsWith('xray:'))).toBe(true);
  });

  it('pass the configured Bedrock Region to the functions that call Bedrock', () => {
    for (const [, f] of resourcesOfType(t, 'AWS::Lambda::Function')) {
      const region = f.Environment.Variables.BEDROCK_REGION;
      if (region !== undefined) expect(region).toBe('eu-west-1');
    }
  });
});

describe('route table', () => {
  it('fails at synth when a route has no function to serve it', () => {
    const stack = new Stack(new App(), 'S');
    const authorizerFunction = new LambdaFunction(stack, 'Authorizer', {
      runtime: Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async () => ({})'),
    });
    const api = new GenAiApi(stack, 'Api', { config: parseConfig({}), authorizerFunction });
    expect(() =>
      api.addRoutes(
        [{ id: 'Report', method: 'GET', path: '/reports/{id}', functionName: 'get-report', transferMode: 'BUFFERED' }],
        {},
      ),
    ).toThrow(/GET \/reports\/\{id\}.*"get-report"/);
  });
});
