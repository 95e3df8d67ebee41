// No vscode import: how a ProgressEvent reads in the notification and the status bar.
import { timeLeftText, type ProgressEvent } from '../../engine/pipeline/progress';

/** e.g. "sft-refusal: Forward pass (batch 3/8, 1,234 tok/s, about 4 min left)". */
export function progressMessage(e: ProgressEvent): string {
  const details: string[] = [];
  if (e.batchesTotal !== undefined) details.push(`batch ${e.batchesDone ?? 0}/${e.batchesTotal}`);
  if (e.tokensPerSecond !== undefined && Number.isFinite(e.tokensPerSecond))
    details.push(`${Math.round(e.tokensPerSecond).toLocaleString('en-US')} tok/s`);
  if (e.secondsLeft !== undefined && Number.isFinite(e.secondsLeft)) details.push(timeLeftText(e.secondsLeft));
  const model = e.model && !e.message.includes(e.model) ? `${e.model}: ` : '';
  return `${model}${e.message}${details.length ? ` (${details.join(', ')})` : ''}`;
}

/** Short form for the status bar, e.g. "forward 3/8". */
export function progressShort(e: ProgressEvent): string {
  return e.batchesTotal !== undefined ? `${e.stage} ${e.batchesDone ?? 0}/${e.batchesTotal}` : e.stage;
}

/** The share of the run's batches done (0-1) for the live panel's bar; undefined while loading. */
export function progressFraction(e: ProgressEvent): number | undefined {
  if (e.stage === 'report' || e.stage === 'done') return 1;
  if (!e.batchesTotal) return undefined;
  return Math.min(1, Math.max(0, (e.batchesDone ?? 0) / e.batchesTotal));
}
