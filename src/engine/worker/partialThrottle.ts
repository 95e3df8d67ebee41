import { PARTIAL_REPORT_INTERVAL_MS } from './messages';

/**
 * Forwards at most one partial report per interval (always the latest), so a fast run does not
 * flood the editor's main thread with JSON to deserialise.
 */
export class PartialReportThrottle {
  private lastSent = 0;
  private pending: unknown;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly forward: (report: unknown) => void,
    private readonly intervalMs = PARTIAL_REPORT_INTERVAL_MS,
  ) {}

  push(report: unknown): void {
    this.pending = report;
    const wait = this.lastSent + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Forget anything not yet sent (the run ended; the final report supersedes it). */
  drop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending === undefined) return;
    const report = this.pending;
    this.pending = undefined;
    this.lastSent = Date.now();
    this.forward(report);
  }
}
