/** Small DOM and formatting helpers shared by the playground's tabs. */

/** The element with `id`, checked to be of `type`: a missing or different element is a bug in index.html. */
export function byId<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`playground: #${id} is missing or not a ${type.name}`);
  return el;
}

/** The first element under `root` matching `selector`, checked to be of `type`. */
export function within<T extends Element>(root: ParentNode, selector: string, type: { new (): T; prototype: T }): T {
  const el = root.querySelector(selector);
  if (!(el instanceof type)) throw new Error(`playground: ${selector} is missing or not a ${type.name}`);
  return el;
}

/** `312 ms` below a second, `1.24 s` above. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Tokens per second over `ms`, one decimal; `–` when it cannot be told. */
export function formatRate(tokens: number, ms: number): string {
  if (!(ms > 0) || !Number.isFinite(tokens) || tokens < 0) return '–';
  return `${((tokens * 1000) / ms).toFixed(1)}`;
}

/** Local wall-clock time with milliseconds, for timelines. */
export function formatClock(value: string | number | Date): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** Shows `message` in an error element, or hides it when there is none. */
export function showError(el: HTMLElement, message: string | undefined): void {
  el.textContent = message ?? '';
  el.hidden = !message;
}

/** Whether `err` is the rejection of an aborted request or iteration. */
export function isAbort(err: unknown): boolean {
  return (err as { name?: unknown } | null)?.name === 'AbortError';
}
