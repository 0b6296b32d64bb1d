/**
 * `npm start`: the whole API on 127.0.0.1 with no AWS account.
 * Environment: `PORT` (default 3000), `LOCAL_API_KEYS` (`userId:plan:key,…`), `LOCAL_WEBHOOK_SECRET` (`whsec_…`).
 */
import { ConfigError } from '../config/schema';
import { ApiKeySpecError } from './api-keys';
import { startLocalCloud } from './cloud';
import { localCloudState, removeLocalState, writeLocalState } from './state-file';

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`PORT: not a port number: ${process.env.PORT}`, []);
  const cloud = await startLocalCloud({
    port,
    apiKeys: process.env.LOCAL_API_KEYS,
    webhookSecret: process.env.LOCAL_WEBHOOK_SECRET,
  });

  if (!process.env.LOCAL_API_KEYS) {
    console.log('Demo API keys (set LOCAL_API_KEYS=userId:plan:key,… to choose your own):');
    for (const k of cloud.keys) console.log(`  ${k.plan.padEnd(8)} user ${k.userId.padEnd(12)} x-api-key: ${k.key}`);
  }
  console.log(`Playground: ${cloud.url}/ (stream vs sync side by side, reports, simulator faults and breakers)`);
  console.log(`OpenAPI: ${cloud.url}/openapi.json`);
  console.log(`Bedrock simulator: POST ${cloud.url}/_local/model to change its behaviour`);
  const statePath = writeLocalState(localCloudState(cloud));
  console.log(`CLI: npx genai chat "Hello", npx genai --help (it finds this local cloud and its keys in ${statePath})`);
  console.log(`GenAI API local cloud ready at ${cloud.url}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping`);
    removeLocalState();
    cloud.stop().then(
      () => process.exit(0),
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof ApiKeySpecError) console.error(err.message);
  else console.error(err);
  process.exit(1);
});
