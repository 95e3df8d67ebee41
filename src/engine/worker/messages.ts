import type { ExecutionProviderName, ProviderRequest } from '../config/types';
import type { SourceLocation } from '../core/errors';
import type { ProgressEvent } from '../pipeline/progress';
import type { RunOutline } from '../../shared/reportMessages';

/**
 * The IPC protocol between the editor's RunController (parent) and the run worker (child process).
 * Plain JSON-serialisable objects only: they cross process.send().
 */

/** Values that always win over the config file (e.g. the "Run on CPU" retry, an explicit output path). */
export interface RunOverrides {
  provider?: ProviderRequest;
  outPath?: string;
}

/** Editor settings: applied only for runtime keys the config file does not set. */
export interface RunDefaults {
  provider?: ProviderRequest;
  fallback?: boolean;
  batchSize?: number;
  threads?: number;
}

export interface RunRequest {
  configPath: string;
  overrides?: RunOverrides;
  defaults?: RunDefaults;
}

export type ParentMessage = { type: 'start'; request: RunRequest } | { type: 'cancel' };

/** A failure as the editor shows it. */
export interface WorkerError {
  /** The one-line form (SaeDiffError.format()), or the plain message. */
  message: string;
  location?: SourceLocation;
  /** CUDA was asked for but onnxruntime-node's CUDA binaries are missing: offer a CPU retry. */
  cudaBinariesMissing?: boolean;
}

export type ChildMessage =
  /** The config loaded: where the report will go, and what it will report on (the live panel's first view). */
  | { type: 'started'; configPath: string; reportPath: string; outline: RunOutline }
  | { type: 'provider'; provider: ExecutionProviderName; requested: ProviderRequest; reason: string; warnings: string[] }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'log'; line: string }
  /**
   * A report with complete: false, without activating contexts (see slimPartialReport.ts), throttled:
   * the latest one at most every PARTIAL_REPORT_INTERVAL_MS.
   */
  | { type: 'partial'; report: unknown }
  | { type: 'done'; reportPath: string }
  | { type: 'error'; error: WorkerError }
  | { type: 'cancelled' };

export const PARTIAL_REPORT_INTERVAL_MS = 500;
