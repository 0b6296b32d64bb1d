/**
 * Where a request to a model with prompt caching (`models.promptCaching`) gets its Converse `cachePoint` blocks.
 *
 * Bedrock caches the prompt prefix up to each checkpoint: the tools, the system prompt, then the messages in order. A
 * checkpoint must hold at least the model's minimum of tokens beyond the previous one (or the start), else Bedrock
 * does not cache it. Two places are stable from one call of a conversation to the next:
 * 1. after the system prompt (with the tool definitions before it), the same for every turn;
 * 2. after the history: every turn before the newest user turn, which the next call of the conversation repeats.
 * The newest user turn is never cached: the next call's history ends with it and the answer, so a checkpoint there
 * would be written and never read. At most 2 checkpoints are placed, within Bedrock's limit of 4 per request.
 *
 * Token counts are the chat core's estimate (`estimateTokens`, generous), so a checkpoint may be placed slightly short
 * of the minimum; Bedrock then answers as usual and simply does not cache that prefix.
 */
import { estimateTokens } from './chat-call';
import type { ChatTurn, ModelRequest } from './model';

/** Bedrock's limit of cache checkpoints in one request. */
export const MAX_CACHE_CHECKPOINTS = 4;

export interface CachePointPlan {
  /** A checkpoint after the system prompt. */
  readonly afterSystem: boolean;
  /** A checkpoint at the end of this message (the last turn before the newest user turn); unset: none. */
  readonly afterMessage?: number;
}

const NONE: CachePointPlan = { afterSystem: false };

/** Characters of one turn as the model reads them (images and tool calls counted by their text). */
function turnChars(turn: ChatTurn): number {
  if (typeof turn.content === 'string') return turn.content.length;
  let chars = 0;
  for (const block of turn.content) {
    if (block.type === 'text' || block.type === 'toolResult') chars += block.text.length;
    else if (block.type === 'toolUse') chars += block.name.length + JSON.stringify(block.input).length;
  }
  return chars;
}

/** The checkpoints of `request` for a model whose checkpoints need at least `minTokensPerCheckpoint` tokens. */
export function planCachePoints(request: ModelRequest, minTokensPerCheckpoint: number): CachePointPlan {
  const toolChars = request.tools?.length ? JSON.stringify(request.tools).length : 0;
  const systemTokens = estimateTokens(toolChars + (request.system?.length ?? 0));
  const afterSystem = request.system !== undefined && request.system !== '' && systemTokens >= minTokensPerCheckpoint;

  // The newest user turn: the history is everything before it.
  let newest = request.messages.length - 1;
  while (newest >= 0 && request.messages[newest]?.role !== 'user') newest--;
  const lastHistory = newest - 1;
  if (lastHistory < 0) return afterSystem ? { afterSystem } : NONE;
  let historyChars = 0;
  for (const turn of request.messages.slice(0, lastHistory + 1)) historyChars += turnChars(turn);
  // Counted from the previous checkpoint: the system prompt's, or the start of the prompt.
  const sinceLast = afterSystem ? estimateTokens(historyChars) : systemTokens + estimateTokens(historyChars);
  return sinceLast >= minTokensPerCheckpoint ? { afterSystem, afterMessage: lastHistory } : { afterSystem };
}
