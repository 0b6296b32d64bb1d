/**
 * What the page is told by whoever serves it, in `<script type="application/json" id="playground-config">`: the static
 * build (`npm run build:playground -- --api-url …`) or the local cloud (local/playground-route.ts). The element holds
 * data, never code, so the page's Content-Security-Policy (`script-src 'self'`) stays strict.
 */
export interface PageConfig {
  /** The API base URL the page starts with. @default the page's own origin */
  readonly apiUrl?: string;
  /** Local cloud only, on a page opened from this machine: one of the local cloud's API keys. */
  readonly apiKey?: string;
}

export const PAGE_CONFIG_ELEMENT_ID = 'playground-config';

/** Parses the page's config; anything malformed counts as empty (the page then asks for both values). */
export function parsePageConfig(text: string | null | undefined): PageConfig {
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const { apiUrl, apiKey } = value as Record<string, unknown>;
  return {
    ...(typeof apiUrl === 'string' && apiUrl ? { apiUrl } : {}),
    ...(typeof apiKey === 'string' && apiKey ? { apiKey } : {}),
  };
}

/** The JSON to put inside the config element: `<` escaped, so no value can close the element. */
export function serializePageConfig(config: PageConfig): string {
  return JSON.stringify(config).replace(/</g, '\\u003c');
}
