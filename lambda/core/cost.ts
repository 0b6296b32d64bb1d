/**
 * What a model call costs, from the prices in `models.prices` (US dollars per million tokens), in exact integers.
 *
 * A price of `p` dollars per million tokens is `p` micro-dollars per token. Prices are configured to a thousandth of a
 * dollar per million tokens, so each is held as an integer of nano-dollars per token (`p × 1000`), and a call's cost is
 * an integer sum of tokens × nano-dollars, rounded up to whole micro-dollars: the unit the dollar budgets count in
 * (`lambda/core/token-budget.ts`). Nothing here is a float sum, so costs and budgets never drift.
 *
 * @example
 * // Claude Sonnet 4 at $3 / $15 per million tokens: 1,000 input and 500 output tokens
 * costMicroUsd({ inputTokens: 1000, outputTokens: 500 }, { input: 3, output: 15 }); // 10_500 (0.0105 dollars)
 */
import type { ModelPriceConfig } from '../../config/schema';
import type { TokenUsage } from './model';

export type ModelPrice = ModelPriceConfig;

/** Micro-dollars in a dollar. */
export const MICRO_PER_USD = 1_000_000;

/** A price in dollars per million tokens as integer nano-dollars per token. */
function nanoPerToken(usdPerMillion: number): number {
  return Math.round(usdPerMillion * 1000);
}

/** Integer nano-dollars to whole micro-dollars, rounded up: a budget never counts less than was spent. */
function microOfNano(nano: number): number {
  return Math.ceil(nano / 1000);
}

/** The cost of `usage` at `price`, in whole micro-dollars (rounded up). Cache tokens without a price cost the input price. */
export function costMicroUsd(usage: TokenUsage, price: ModelPrice): number {
  const input = nanoPerToken(price.input);
  const nano =
    usage.inputTokens * input +
    usage.outputTokens * nanoPerToken(price.output) +
    (usage.cacheReadInputTokens ?? 0) * nanoPerToken(price.cacheRead ?? price.input) +
    (usage.cacheWriteInputTokens ?? 0) * nanoPerToken(price.cacheWrite ?? price.input);
  return microOfNano(nano);
}

/** Micro-dollars as dollars with 6 decimals: the `costUsd` clients see. */
export function usdOfMicro(micro: number): number {
  return micro / MICRO_PER_USD;
}

/** Dollars (a configured budget) as whole micro-dollars. */
export function microOfUsd(usd: number): number {
  return Math.round(usd * MICRO_PER_USD);
}

/** The price of `modelId` in `prices`; undefined for a model without one (never an inherited object member). */
export function priceOf(prices: Readonly<Record<string, ModelPrice>>, modelId: string): ModelPrice | undefined {
  return Object.hasOwn(prices, modelId) ? prices[modelId] : undefined;
}

/** The cost of `usage` on `modelId` at its price, in whole micro-dollars; undefined for a model without a price. */
export function modelCostMicroUsd(
  prices: Readonly<Record<string, ModelPrice>>,
  modelId: string,
  usage: TokenUsage,
): number | undefined {
  const price = priceOf(prices, modelId);
  return price && costMicroUsd(usage, price);
}

/**
 * The most a call may cost before it is made, for the dollar budget's reservation: its estimated input tokens at the
 * highest input price of any model of its chain (an input token written to the prompt cache is the dearest input), and
 * `maxTokens` at the highest output price. Undefined when a model of the chain has no price.
 */
export function estimateMicroUsd(
  estimatedInputTokens: number,
  maxTokens: number,
  models: readonly string[],
  prices: Readonly<Record<string, ModelPrice>>,
): number | undefined {
  let input = 0;
  let output = 0;
  for (const id of models) {
    const price = priceOf(prices, id);
    if (!price) return undefined;
    input = Math.max(input, nanoPerToken(price.input), nanoPerToken(price.cacheWrite ?? price.input));
    output = Math.max(output, nanoPerToken(price.output));
  }
  return microOfNano(estimatedInputTokens * input + maxTokens * output);
}

/**
 * A call's cost as clients see it (`costUsd`): 0 for an answer served from the response cache (no model was called)
 * or by one of `freeModels` (the configured degraded answer); undefined for a model without a price.
 */
export function callCostMicroUsd(
  result: { model: string; usage: TokenUsage; cached?: boolean },
  prices: Readonly<Record<string, ModelPrice>>,
  freeModels: readonly string[] = [],
): number | undefined {
  if (result.cached) return 0;
  if (freeModels.includes(result.model)) return 0;
  return modelCostMicroUsd(prices, result.model, result.usage);
}
