/**
 * The simulator tab (local cloud only): set the Bedrock simulator's fault mode for every model or one, and watch each
 * model's circuit breaker. Its tab exists only while {@link LocalTools} are found at the API URL.
 */
import { byId, onSubmit, showStatus } from './dom';
import {
  type BreakerView,
  type LocalTools,
  LocalToolsError,
  type ModelBehaviour,
  type SimulatorMode,
  type SimulatorSettings,
  type SimulatorState,
} from './local-tools';

/** How often the settings and breakers are re-read while the tab is shown. */
const REFRESH_MS = 1000;

export class SimulatorTab {
  private readonly form = byId('simulator-form', HTMLFormElement);
  private readonly mode = byId('sim-mode', HTMLSelectElement);
  private readonly model = byId('sim-model', HTMLSelectElement);
  private readonly ttft = byId('sim-ttft', HTMLInputElement);
  private readonly tps = byId('sim-tps', HTMLInputElement);
  private readonly failRate = byId('sim-fail-rate', HTMLInputElement);
  private readonly reset = byId('sim-reset', HTMLButtonElement);
  private readonly status = byId('simulator-status', HTMLParagraphElement);
  private readonly settings = byId('sim-settings', HTMLTableSectionElement);
  private readonly breakers = byId('breakers', HTMLTableSectionElement);
  private readonly breakersStatus = byId('breakers-status', HTMLParagraphElement);
  private tools?: LocalTools;
  private visible = false;
  private timer?: ReturnType<typeof setTimeout>;
  private refreshing = false;
  private lastStates = new Map<string, BreakerView['state']>();

  constructor() {
    onSubmit(this.form, () => {
      const settings = this.readSettings();
      return settings ? this.apply(settings) : undefined;
    });
    this.reset.addEventListener('click', () => void this.apply({ mode: 'normal' }));
  }

  setLocalTools(tools: LocalTools | undefined): void {
    this.tools = tools;
    this.lastStates.clear();
    if (tools) void this.refresh();
  }

  /** Refreshes every second while shown. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    if (visible) void this.refresh();
    else clearTimeout(this.timer);
  }

  /** Re-reads settings and breakers now (after a chat run, say). */
  async refresh(): Promise<void> {
    const tools = this.tools;
    if (!tools || this.refreshing) return;
    this.refreshing = true;
    clearTimeout(this.timer);
    try {
      const [state, breakers] = await Promise.all([tools.simulator(), tools.breakers()]);
      this.renderSettings(state);
      this.renderBreakers(breakers);
    } catch (err) {
      this.breakersStatus.textContent = `The local cloud could not be read: ${(err as Error).message}`;
    } finally {
      this.refreshing = false;
      if (this.visible && this.tools === tools) this.timer = setTimeout(() => void this.refresh(), REFRESH_MS);
    }
  }

  private readSettings(): SimulatorSettings | undefined {
    const fields: [HTMLInputElement, string, (v: number) => boolean][] = [
      [this.ttft, 'Time to first token must be 0 or more milliseconds.', (v) => v >= 0],
      [this.tps, 'Tokens per second must be above 0.', (v) => v > 0],
      [this.failRate, 'Fail rate must be from 0 to 1.', (v) => v >= 0 && v <= 1],
    ];
    const values: (number | undefined)[] = [];
    for (const [input, rule, valid] of fields) {
      const raw = input.value.trim();
      const value = raw ? Number(raw) : undefined;
      if (value !== undefined && !(Number.isFinite(value) && valid(value))) {
        showStatus(this.status, rule, 'bad');
        input.focus();
        return undefined;
      }
      values.push(value);
    }
    const [ttftMs, tokensPerSecond, failRate] = values;
    return {
      mode: this.mode.value as SimulatorMode,
      ...(this.model.value ? { model: this.model.value } : {}),
      ...(ttftMs === undefined ? {} : { ttftMs }),
      ...(tokensPerSecond === undefined ? {} : { tokensPerSecond }),
      ...(failRate === undefined ? {} : { failRate }),
    };
  }

  private async apply(settings: SimulatorSettings): Promise<void> {
    const tools = this.tools;
    if (!tools) return;
    try {
      const state = await tools.configure(settings);
      this.renderSettings(state);
      showStatus(this.status, `Applied: ${settings.mode} for ${settings.model ?? 'all models'}.`, 'ok');
      void this.refresh();
    } catch (err) {
      const message = err instanceof LocalToolsError ? err.message : (err as Error).message;
      showStatus(this.status, `Not applied: ${message}`, 'bad');
    }
  }

  private renderSettings(state: SimulatorState): void {
    const rows = [
      row(['All models (default)', ...behaviourCells(state.default)]),
      ...Object.entries(state.models).map(([id, b]) => row([id, ...behaviourCells(b)])),
    ];
    this.settings.replaceChildren(...rows);
  }

  private renderBreakers(breakers: readonly BreakerView[]): void {
    this.syncModelOptions(breakers.map((b) => b.modelId));
    this.breakers.replaceChildren(
      ...breakers.map((b) => {
        const tr = row([
          b.modelId,
          `${b.state}${b.forced ? ' (forced)' : ''}`,
          String(b.trips),
          `${b.window.calls} / ${b.window.failures} / ${b.window.slow}`,
          b.retryAfterSeconds === undefined ? '–' : `${b.retryAfterSeconds} s`,
        ]);
        tr.cells[1]?.classList.add(`state-${b.state}`);
        if (b.reason) tr.cells[1]?.setAttribute('title', b.reason);
        return tr;
      }),
    );
    // Announce changes only, not every refresh.
    const changes = breakers.filter(
      (b) => this.lastStates.has(b.modelId) && this.lastStates.get(b.modelId) !== b.state,
    );
    if (changes.length) this.breakersStatus.textContent = changes.map((b) => `${b.modelId}: ${b.state}`).join('; ');
    this.lastStates = new Map(breakers.map((b) => [b.modelId, b.state]));
  }

  /** The model select lists "All models" and each configured model, keeping the choice. */
  private syncModelOptions(models: readonly string[]): void {
    const current = [...this.model.options].slice(1).map((o) => o.value);
    if (current.length === models.length && current.every((m, i) => m === models[i])) return;
    const chosen = this.model.value;
    const all = this.model.options[0]!;
    this.model.replaceChildren(all, ...models.map((m) => new Option(m, m)));
    this.model.value = models.includes(chosen) ? chosen : '';
  }
}

function behaviourCells(b: ModelBehaviour): string[] {
  return [b.mode, String(b.ttftMs), String(b.tokensPerSecond), String(b.failRate)];
}

function row(cells: readonly string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  cells.forEach((text, i) => {
    const cell = document.createElement(i === 0 ? 'th' : 'td');
    if (i === 0) cell.setAttribute('scope', 'row');
    cell.textContent = text;
    tr.append(cell);
  });
  return tr;
}
