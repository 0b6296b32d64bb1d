/**
 * The models of a validated configuration: the chain a call may use, every model a function may call, and the chain a
 * client's model name selects. Free of the configuration schema (and of zod), so the functions can use it without
 * bundling the validator; `config/schema.ts` re-exports it.
 */
import type { AppConfig } from './schema';

/** The ordered chain of models a call may use: primary first, then fallbacks. */
export function modelChain(config: Pick<AppConfig, 'models'>): string[] {
  return [config.models.primary, ...config.models.fallbacks];
}

/** Every model a function may call: the chain and every alias's models, each once (the IAM policy's resources). */
export function configuredModels(config: Pick<AppConfig, 'models'>): string[] {
  const aliases = Object.values(config.models.aliases).flatMap((a) => [a.model, ...a.fallbacks]);
  return [...new Set([...modelChain(config), ...aliases])];
}

/**
 * The model chain a client's model name selects: an alias's own chain; a configured id from its place in the main
 * chain on (so the primary keeps every fallback); undefined for a name that is not configured.
 */
export function modelChainFor(config: Pick<AppConfig, 'models'>, name: string): string[] | undefined {
  const alias = Object.hasOwn(config.models.aliases, name) ? config.models.aliases[name] : undefined;
  if (alias) return [alias.model, ...alias.fallbacks];
  const chain = modelChain(config);
  const at = chain.indexOf(name);
  if (at >= 0) return chain.slice(at);
  // A model only an alias names is still a configured model: asked for by id, it runs alone.
  return configuredModels(config).includes(name) ? [name] : undefined;
}
