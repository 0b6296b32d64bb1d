/**
 * The Bedrock simulator's `requestsPerMinute`: a Bedrock-like requests-per-minute quota per model id, past which a call
 * is answered `ThrottlingException` (HTTP 429) and counted in `stats.throttled`, as the real service throttles. Over
 * the real Bedrock Runtime SDK, on both protocols the SDK and the functions use.
 */
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  ThrottlingException,
} from '@aws-sdk/client-bedrock-runtime';
import { bedrockRequestHandler } from '../../lambda/aws/clients';
import { BedrockSimulator, SimulatorSettingsError } from '../../local/bedrock-simulator';

const MODEL = 'quota.sim-v1:0';
const OTHER = 'quota.sim-other-v1:0';
const messages = [{ role: 'user' as const, content: [{ text: 'hello' }] }];

let sim: BedrockSimulator;
let client: BedrockRuntimeClient;

beforeAll(async () => {
  sim = await BedrockSimulator.start();
  client = new BedrockRuntimeClient({
    endpoint: sim.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: bedrockRequestHandler(),
  });
});

afterAll(async () => {
  client.destroy();
  await sim.close();
});

beforeEach(() => sim.reset());

const converse = (modelId: string) => client.send(new ConverseCommand({ modelId, messages }));

it('throttles a model past its requests per minute, per model id, and counts what it throttled', async () => {
  sim.configure({ mode: 'normal', requestsPerMinute: 2 });
  await converse(MODEL);
  const stream = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages }));
  for await (const _ of stream.stream ?? []) {
    // drained
  }
  await expect(converse(MODEL)).rejects.toBeInstanceOf(ThrottlingException);
  await expect(converse(MODEL)).rejects.toMatchObject({ $metadata: { httpStatusCode: 429 } });
  // Another model has a quota of its own.
  await expect(converse(OTHER)).resolves.toMatchObject({ stopReason: expect.any(String) });
  expect(sim.stats).toMatchObject({ calls: 5, throttled: 2 });
});

it('has no quota unless asked, and a per-model setting leaves the others unlimited', async () => {
  for (let i = 0; i < 5; i++) await converse(MODEL);
  sim.configure({ mode: 'normal', model: OTHER, requestsPerMinute: 1 });
  await converse(OTHER);
  await expect(converse(OTHER)).rejects.toBeInstanceOf(ThrottlingException);
  await converse(MODEL);
  expect(sim.stats.throttled).toBe(1);
  expect(sim.state().models[OTHER]).toMatchObject({ requestsPerMinute: 1 });
});

it('refuses a requestsPerMinute that is not a positive integer, naming it', () => {
  expect(() => sim.configure({ mode: 'normal', requestsPerMinute: 0 })).toThrow(SimulatorSettingsError);
  expect(() => sim.configure({ mode: 'normal', requestsPerMinute: 1.5 })).toThrow('requestsPerMinute');
});
