/** Deterministic text generation: the same prompt always streams the same answer, so tests can compare runs. */

const WORDS = (
  'the a model answer stream token latency first byte user request response cloud serverless function queue table ' +
  'event retry breaker budget limit fallback metric trace client server gateway webhook report job result signal ' +
  'fast steady simple careful clear useful reliable shared local regional quiet bright small large each every ' +
  'builds sends reads writes checks keeps returns counts waits starts ends measures delivers handles protects'
).split(' ');

/**
 * A deterministic answer of 20 to 60 tokens, each a word plus the space after it (the last has none), so the same
 * prompt always streams the same text and tests can compare runs.
 */
export function generateTokens(seedText: string): string[] {
  const next = mulberry32(fnv1a(seedText));
  const count = 20 + Math.floor(next() * 41);
  const tokens: string[] = [];
  let sentenceStart = true;
  for (let i = 0; i < count; i++) {
    let word = WORDS[Math.floor(next() * WORDS.length)];
    if (sentenceStart) word = word[0].toUpperCase() + word.slice(1);
    const last = i === count - 1;
    sentenceStart = last || next() < 0.12;
    tokens.push(sentenceStart ? `${word}.${last ? '' : ' '}` : `${word} `);
  }
  return tokens;
}

/** FNV-1a, 32 bits: the seed of a text, and of the ids the simulator derives from a request. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A small seeded PRNG (mulberry32): the simulator's texts, and reproducible `random` sources for tests. */
export function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
