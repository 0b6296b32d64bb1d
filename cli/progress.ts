/**
 * Progress on stderr while a command waits: one line per status change, and, only when stderr is a terminal, a spinner
 * with the time waited so far (a log file or a pipe gets the status lines alone).
 */
import type { Output } from './context';
import { formatMs } from './format';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 100;
const CLEAR_LINE = '\r\x1b[K';

export class Progress {
  private status?: string;
  private frame = 0;
  private readonly startedAt = performance.now();
  private readonly timer?: NodeJS.Timeout;

  constructor(
    private readonly out: Output,
    private readonly label: string,
  ) {
    if (out.isTTY) this.timer = setInterval(() => this.draw(), FRAME_MS);
  }

  /** Notes the current status; a change is printed on a line of its own. */
  update(status: string): void {
    if (status === this.status) return;
    this.status = status;
    this.clear();
    this.out.write(`${this.label}: ${status} (${formatMs(this.elapsedMs())})\n`);
    this.draw();
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  /** Removes the spinner; call before anything else is written, and when done. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }

  private draw(): void {
    if (!this.timer || this.status === undefined) return;
    this.frame = (this.frame + 1) % FRAMES.length;
    this.out.write(`${CLEAR_LINE}${FRAMES[this.frame]} ${this.status} ${formatMs(this.elapsedMs())}`);
  }

  private clear(): void {
    if (this.timer) this.out.write(CLEAR_LINE);
  }
}
