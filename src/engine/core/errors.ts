/** A user-facing failure: says which file (and key / line) is wrong and what to do about it. */
export interface SourceLocation {
  file: string;
  /** 1-based line and column, when the problem is inside a text file. */
  line?: number;
  column?: number;
  /** Dotted config key, e.g. `diagnostic_pipeline.sae.path`. */
  key?: string;
}

export class SaeDiffError extends Error {
  readonly location?: SourceLocation;
  readonly hint?: string;
  constructor(message: string, options: { location?: SourceLocation; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SaeDiffError';
    this.location = options.location;
    this.hint = options.hint;
  }

  /** `file:line:col: message (key: …). hint` — the one-line form the CLI prints. */
  format(): string {
    const loc = this.location;
    let where = '';
    if (loc) {
      where = loc.file;
      if (loc.line !== undefined) where += `:${loc.line}:${loc.column ?? 1}`;
      where += ': ';
    }
    const key = loc?.key ? ` (key ${loc.key})` : '';
    const hint = this.hint ? ` ${this.hint}` : '';
    return `${where}${this.message}${key}.${hint}`.replace(/\.\.(\s|$)/g, '.$1');
  }
}

/** Raised when a run is cancelled through its AbortSignal. */
export class CancelledError extends Error {
  constructor() {
    super('The run was cancelled.');
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}
