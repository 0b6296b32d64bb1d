/**
 * Tabs as the WAI-ARIA Authoring Practices describe them: one tab in the tab order (roving tabindex), arrow keys,
 * Home and End move between tabs and select them, each tab shows its panel and hides the others.
 */
export class Tabs {
  private readonly listeners: ((panelId: string) => void)[] = [];

  constructor(private readonly tablist: HTMLElement) {
    tablist.addEventListener('click', (event) => {
      const tab = (event.target as Element | null)?.closest('[role="tab"]');
      if (tab instanceof HTMLElement) this.select(tab);
    });
    tablist.addEventListener('keydown', (event) => this.onKey(event));
  }

  /** Called with the panel's id whenever a tab is selected. */
  onSelect(listener: (panelId: string) => void): void {
    this.listeners.push(listener);
  }

  /** Shows or hides a tab (and its panel); a hidden selected tab gives way to the first visible one. */
  setAvailable(tabId: string, available: boolean): void {
    const tab = this.tabs(true).find((t) => t.id === tabId);
    if (!tab) return;
    tab.hidden = !available;
    if (!available && tab.getAttribute('aria-selected') === 'true') {
      const first = this.tabs()[0];
      if (first) this.select(first, false);
    }
  }

  /** The id of the selected tab's panel. */
  selectedPanel(): string | undefined {
    return (
      this.tabs()
        .find((t) => t.getAttribute('aria-selected') === 'true')
        ?.getAttribute('aria-controls') ?? undefined
    );
  }

  select(tab: HTMLElement, focus = true): void {
    for (const t of this.tabs(true)) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      const panel = document.getElementById(t.getAttribute('aria-controls') ?? '');
      if (panel) panel.hidden = !selected;
    }
    if (focus) tab.focus();
    const panelId = tab.getAttribute('aria-controls');
    if (panelId) for (const l of this.listeners) l(panelId);
  }

  private onKey(event: KeyboardEvent): void {
    const tabs = this.tabs();
    const current = tabs.indexOf(event.target as HTMLElement);
    if (current < 0) return;
    let next: number;
    switch (event.key) {
      case 'ArrowRight':
        next = (current + 1) % tabs.length;
        break;
      case 'ArrowLeft':
        next = (current - 1 + tabs.length) % tabs.length;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = tabs.length - 1;
        break;
      default:
        return;
    }
    event.preventDefault();
    const tab = tabs[next];
    if (tab) this.select(tab);
  }

  private tabs(includeHidden = false): HTMLElement[] {
    return [...this.tablist.querySelectorAll<HTMLElement>('[role="tab"]')].filter((t) => includeHidden || !t.hidden);
  }
}
