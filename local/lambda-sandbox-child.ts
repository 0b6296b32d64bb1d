/**
 * Inside a local execution environment (see `lambda-sandbox.ts`): loads one function's handler, as the Lambda runtime
 * does, and runs the invocations its parent sends over IPC. Exits when the parent goes away.
 */
import { createContext, installLambdaGlobals } from './lambda-runtime';

interface InvokeMessage {
  id: number;
  event: unknown;
  timeoutMs: number;
}

const [handlerPath, functionName] = process.argv.slice(2);
installLambdaGlobals();
const handler = (require(handlerPath) as { handler: (event: unknown, context: unknown) => Promise<unknown> }).handler;

process.on('message', (message: InvokeMessage) => {
  const context = createContext(functionName, message.timeoutMs);
  Promise.resolve()
    .then(() => handler(message.event, context))
    .then(
      (result) => process.send?.({ id: message.id, ok: true, result: result ?? null }),
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        process.send?.({ id: message.id, ok: false, error: { name: e.name, message: e.message, stack: e.stack } });
      },
    );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
