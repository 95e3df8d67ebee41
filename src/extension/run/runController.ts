// No vscode import here: tests and the event-loop benchmark drive this class in plain node.
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import type { ChildMessage, ParentMessage, RunRequest, WorkerError } from '../../engine/worker/messages';
import type { ProgressEvent } from '../../engine/pipeline/progress';
import type { RunOutline } from '../../shared/reportMessages';
import { removeReportTempFiles } from './reportTempFiles';

export type RunOutcome = { kind: 'done'; reportPath: string } | { kind: 'cancelled' } | { kind: 'error'; error: WorkerError };

export interface ProviderInfo {
  provider: string;
  requested: string;
  reason: string;
  warnings: string[];
}

export interface RunEvents {
  onStarted?(info: { pid: number; configPath: string; reportPath: string; outline: RunOutline }): void;
  onProvider?(info: ProviderInfo): void;
  onProgress?(event: ProgressEvent): void;
  onLog?(line: string): void;
  onPartialReport?(report: unknown): void;
}

export interface RunControllerOptions {
  /** Compiled worker entry; defaults to the one next to this build. */
  workerPath?: string;
  /** How long a cancelled worker may take to stop by itself before it is killed. */
  killAfterMs?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * The worker entry: beside this file in the esbuild bundle (dist/extension.js + dist/runWorker.js, what the
 * VSIX ships), else in tsc's layout (out/src/extension/run -> out/src/engine/worker).
 */
export const DEFAULT_WORKER_PATH = fs.existsSync(path.join(__dirname, 'runWorker.js'))
  ? path.join(__dirname, 'runWorker.js')
  : path.resolve(__dirname, '../../engine/worker/runWorker.js');

interface ActiveRun {
  child: ChildProcess;
  cancelRequested: boolean;
  killTimer?: NodeJS.Timeout;
  closed: Promise<RunOutcome>;
}

/**
 * Runs one diagnostic at a time in a forked worker process, so the caller's event loop never does
 * the engine's work. The returned promise settles only once the worker has exited (GPU freed).
 */
export class RunController {
  private active: ActiveRun | undefined;
  private readonly workerPath: string;
  private readonly killAfterMs: number;

  constructor(private readonly options: RunControllerOptions = {}) {
    this.workerPath = options.workerPath ?? DEFAULT_WORKER_PATH;
    this.killAfterMs = options.killAfterMs ?? 800;
  }

  get isRunning(): boolean {
    return this.active !== undefined;
  }

  /** Process id of the running worker, if any. */
  get pid(): number | undefined {
    return this.active?.child.pid;
  }

  run(request: RunRequest, events: RunEvents = {}): Promise<RunOutcome> {
    if (this.active) return Promise.reject(new Error('A diagnostic run is already in progress.'));
    const child = fork(this.workerPath, [], {
      // the extension host's own flags (e.g. --inspect) must not leak into the worker
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: this.options.env ?? process.env,
    });
    lowerPriority(child);
    const run: ActiveRun = { child, cancelRequested: false, closed: undefined as unknown as Promise<RunOutcome> };
    run.closed = this.supervise(run, request, events);
    this.active = run;
    return run.closed;
  }

  /** Asks the worker to stop, kills it if it has not exited within killAfterMs; resolves once it is gone. */
  async cancel(): Promise<void> {
    const run = this.active;
    if (!run) return;
    if (!run.cancelRequested) {
      run.cancelRequested = true;
      send(run.child, { type: 'cancel' });
      run.killTimer = setTimeout(() => run.child.kill('SIGKILL'), this.killAfterMs);
    }
    await run.closed;
  }

  dispose(): Promise<void> {
    return this.cancel();
  }

  private supervise(run: ActiveRun, request: RunRequest, events: RunEvents): Promise<RunOutcome> {
    const { child } = run;
    let final: RunOutcome | undefined;
    let reportPath: string | undefined;
    let spawnError: Error | undefined;

    for (const stream of [child.stdout, child.stderr]) {
      if (stream) readline.createInterface({ input: stream }).on('line', (line) => events.onLog?.(line));
    }
    child.on('message', (m: ChildMessage) =>
      safely(events, () => {
        switch (m.type) {
          case 'started':
            reportPath = m.reportPath;
            events.onStarted?.({ pid: child.pid!, configPath: m.configPath, reportPath: m.reportPath, outline: m.outline });
            break;
          case 'provider':
            events.onProvider?.({ provider: m.provider, requested: m.requested, reason: m.reason, warnings: m.warnings });
            break;
          case 'progress':
            events.onProgress?.(m.event);
            break;
          case 'log':
            events.onLog?.(m.line);
            break;
          case 'partial':
            events.onPartialReport?.(m.report);
            break;
          case 'done':
            final = { kind: 'done', reportPath: m.reportPath };
            break;
          case 'error':
            final = { kind: 'error', error: m.error };
            break;
          case 'cancelled':
            final = { kind: 'cancelled' };
            break;
        }
      }),
    );
    child.on('error', (e) => {
      spawnError = e;
    });
    send(child, { type: 'start', request });

    // 'close' comes after the exit and after the IPC channel and pipes are drained, so no message is lost.
    return new Promise<RunOutcome>((resolve) => {
      child.once('close', (code, signal) => {
        if (run.killTimer) clearTimeout(run.killTimer);
        let outcome: RunOutcome;
        if (final) outcome = final;
        else if (run.cancelRequested) outcome = { kind: 'cancelled' };
        else outcome = { kind: 'error', error: { message: unexpectedExitMessage(code, signal, spawnError) } };
        // a killed worker may leave the engine's temporary report file behind
        if (outcome.kind !== 'done' && reportPath) removeReportTempFiles(reportPath);
        this.active = undefined;
        resolve(outcome);
      });
    });
  }
}

/** The worker saturates every core; a lower priority keeps the editor responsive on small machines. */
function lowerPriority(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    os.setPriority(child.pid, os.constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    /* not permitted here: run at normal priority */
  }
}

/** A throwing listener (e.g. a view that rejects a partial report) must not break the supervision of the run. */
function safely(events: RunEvents, handle: () => void): void {
  try {
    handle();
  } catch (e) {
    try {
      events.onLog?.(`Error in a run listener: ${(e as Error).stack ?? e}`);
    } catch {
      /* nothing left to tell */
    }
  }
}

function send(child: ChildProcess, message: ParentMessage): void {
  if (child.connected)
    child.send(message, () => {
      /* a closed channel is handled by 'close' */
    });
}

function unexpectedExitMessage(code: number | null, signal: NodeJS.Signals | null, spawnError?: Error): string {
  if (spawnError) return `Could not start the run process: ${spawnError.message}`;
  const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
  // the kernel's out-of-memory killer sends SIGKILL
  const hint = signal === 'SIGKILL' ? ' It may have run out of memory: lower runtime.batch_size or dataset.max_samples.' : '';
  return `The run process ${how} before finishing.${hint} See the SAE Diff log.`;
}
