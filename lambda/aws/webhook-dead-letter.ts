/** The webhook dead-letter queue on SQS: a {@link DeadLetterSink}. */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterSink } from '../core/webhooks';

/** The message body is the {@link DeadLetter} as JSON. */
export function sqsDeadLetter(client: () => SQSClient, queueUrl: () => string): DeadLetterSink {
  return async (letter) => {
    await client().send(new SendMessageCommand({ QueueUrl: queueUrl(), MessageBody: JSON.stringify(letter) }));
  };
}
