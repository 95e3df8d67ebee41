import type { ProviderRequest } from '../config/types';
import type { ProviderChoice } from '../runtime/providers';
import type { SaeDiffReport } from '../../shared/reportTypes';

export type RunStage = 'load' | 'tokenize' | 'forward' | 'report' | 'done';

/** Structured progress of a run: what the CLI prints on stderr and the editor shows in its notification. */
export interface ProgressEvent {
  stage: RunStage;
  message: string;
  /** Model being run (base or a fine-tune's name). */
  model?: string;
  batchesDone?: number;
  batchesTotal?: number;
  /** Evaluated tokens so far, and throughput of the forward + SAE work. */
  tokensDone?: number;
  tokensPerSecond?: number;
  /**
   * The evaluated tokens still to run at the rate so far: an estimate of the forward and SAE work left (the
   * report, with its feature details, comes after). Set from the second batch on.
   */
  secondsLeft?: number;
}

/** "a few seconds left", "about 45 s left", "about 3 min left", "about 2 h 10 min left": an estimate, rounded as much as it deserves. */
export function timeLeftText(seconds: number): string {
  if (seconds < 10) return 'a few seconds left';
  if (seconds < 90) return `about ${Math.max(5, Math.round(seconds / 5) * 5)} s left`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min left`;
  const tens = Math.round(minutes / 10) * 10;
  return `about ${Math.floor(tens / 60)} h${tens % 60 ? ` ${tens % 60} min` : ''} left`;
}

export interface RunOptions {
  /** Overrides runtime.execution_provider (CLI --provider, editor setting). */
  provider?: ProviderRequest;
  /** The provider the caller already chose with pipeline/provider.ts (the worker, to show it early): not chosen again. */
  chosenProvider?: ProviderChoice;
  /** Overrides output.save_path. */
  outPath?: string;
  /** Overrides runtime.batch_size / runtime.threads (editor settings). */
  batchSize?: number;
  threads?: number;
  /** Run only the i-th (0-based) of n slices of the dataset and write a partial report (see merge). */
  shard?: { index: number; count: number };
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  /** Log lines (config, models, SAE shapes, provider, timings, warnings). */
  onLog?: (line: string) => void;
  /** A report with complete: false after each batch, for live views; never written to disk. */
  onPartialReport?: (report: SaeDiffReport) => void;
}
