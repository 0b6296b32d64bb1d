/** Small DOM helpers shared by the playground's tabs. */

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

/** Runs `handler` when the form is submitted, instead of the browser's navigation. */
export function onSubmit(form: HTMLFormElement, handler: () => unknown): void {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void handler();
  });
}

/** Writes a status line, marked good or bad (or neither) by its class. */
export function showStatus(el: HTMLElement, text: string, tone?: 'ok' | 'bad'): void {
  el.textContent = text;
  el.classList.toggle('ok', tone === 'ok');
  el.classList.toggle('bad', tone === 'bad');
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
