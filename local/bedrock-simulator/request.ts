/** Parsing of a Converse / ConverseStream request body. */

export interface ParsedRequest {
  /** What the answer is derived from: system prompt and last user message. */
  seedText: string;
  inputTokens: number;
  maxTokens?: number;
}

/** Just enough of Bedrock's request validation for clients to see realistic `ValidationException`s. */
export function parseRequest(raw: string): ParsedRequest | { error: string } {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return { error: 'The request body is not valid JSON.' };
  }
  if (!isRecord(body)) return { error: 'The request body must be a JSON object.' };
  const { messages, system, inferenceConfig } = body;
  if (!Array.isArray(messages) || messages.length === 0) {
    return { error: 'The messages field is required and must contain at least one message.' };
  }
  let maxTokens: number | undefined;
  if (isRecord(inferenceConfig) && inferenceConfig.maxTokens !== undefined) {
    const value = inferenceConfig.maxTokens;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      return { error: 'inferenceConfig.maxTokens must be an integer of at least 1.' };
    }
    maxTokens = value;
  }

  const systemText = blockText(system);
  const turns = messages.map((m) =>
    isRecord(m) ? { role: m.role, text: blockText(m.content) } : { role: undefined, text: '' },
  );
  const lastUser = [...turns].reverse().find((t) => t.role === 'user')?.text ?? '';
  const chars = systemText.length + turns.reduce((sum, t) => sum + t.text.length, 0);
  return { seedText: `${systemText}\u0000${lastUser}`, inputTokens: Math.max(1, Math.ceil(chars / 4)), maxTokens };
}

function blockText(blocks: unknown): string {
  if (!Array.isArray(blocks)) return '';
  return blocks.map((b) => (isRecord(b) && typeof b.text === 'string' ? b.text : '')).join('\n');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
