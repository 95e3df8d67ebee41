/**
 * The hooked activations of a small run, kept from the main pass for the feature details
 * (report/featureDetails.ts): their token windows are then cut from these instead of running the models
 * again on the prompts. The replay covers at least REPLAY_MIN_TOKENS tokens per model, so on a short run it
 * repeats the whole forward pass: a quarter of the 1B-class CPU run (2,032 tokens, 100 MB of activations).
 * A cache bounded by KEEP_ACTIVATIONS_BYTES for all models and layers together, not an accumulator: a larger
 * run keeps the prompts that fit, first come first kept, and replays only the others (on the bench, 200 MB of
 * activations, the 64% kept cut the details from 1.6 s to 0.65-0.9 s). Device-resident activations (GPU providers)
 * and shards replay as before. The windows are the main pass's own values, so a window's focus is exactly the
 * context's activation.
 */
import { sizeVariable } from '../core/sizeVariable';
import type { PlannedBatch } from '../data/batching';
import type { Activations, HookedModel } from '../model/runner';
import { ort } from '../runtime/ort';

export const KEEP_ACTIVATIONS_BYTES = 128 * 2 ** 20;
/** Overrides the bound (MiB; 0 always replays the models). */
export const KEEP_ACTIVATIONS_ENV = 'SAE_DIFF_KEEP_ACTIVATIONS_MB';

/** The bound in bytes: KEEP_ACTIVATIONS_BYTES, or the variable's value. */
export function keepActivationsBytes(env: Record<string, string | undefined> = process.env): number {
  const hint = 'Give the memory the feature details may keep in MiB (0 replays the models), or unset it.';
  return sizeVariable(env, KEEP_ACTIVATIONS_ENV, 0, 'a size', hint) ?? KEEP_ACTIVATIONS_BYTES;
}

/** Bytes kept for `models` models' `layers` hooked layers over `tokens` tokens of width `hidden` (float32). */
export function keptBytes(models: number, layers: number, tokens: number, hidden: number): number {
  return models * layers * tokens * hidden * 4;
}

/** One hooked layer of one model: each prompt's rows, [length, hidden], padding excluded. */
interface KeptLayer {
  hidden: number;
  bySample: Map<number, Float32Array>;
}

/** How many leading positions of row r are real tokens (batches are right-padded). */
function rowLength(batch: PlannedBatch, r: number): number {
  let length = 0;
  while (length < batch.seq && batch.mask[r * batch.seq + length]) length++;
  return length;
}

export class KeptActivations {
  private readonly models = new Map<HookedModel, Map<number, KeptLayer>>();
  /** Prompts whose rows are kept for every model: admitted whole when first seen, while they fit the bound. */
  private readonly admitted = new Set<number>();
  private readonly seen = new Set<number>();
  private bytes = 0;

  /**
   * @param bound bytes for all models and layers together
   * @param modelCount how many models' rows each prompt keeps (base and the fine-tunes)
   */
  constructor(
    private readonly bound: number,
    private readonly modelCount: number,
  ) {}

  /** Whether prompt `sample`'s rows were kept (for every model, once the pass has run them all). */
  holds(sample: number): boolean {
    return this.admitted.has(sample);
  }

  /** Copies one batch's activations of `model` for the admitted prompts; device-resident ones are not kept. */
  keep(model: HookedModel, batch: PlannedBatch, layers: Map<number, Activations>): void {
    const onHost = [...layers].filter(([, acts]) => !acts.onDevice);
    if (onHost.length === 0) return;
    for (let r = 0; r < batch.batch; r++) {
      const sample = batch.samples[r];
      if (this.seen.has(sample)) continue;
      this.seen.add(sample);
      // what the prompt costs for every model at once, so that no model's rows are kept without the others'
      const cost = onHost.reduce((n, [, acts]) => n + this.modelCount * rowLength(batch, r) * acts.hidden * 4, 0);
      if (this.bytes + cost > this.bound) continue;
      this.bytes += cost;
      this.admitted.add(sample);
    }
    if (!this.models.has(model)) this.models.set(model, new Map());
    const kept = this.models.get(model)!;
    for (const [layer, acts] of onHost) {
      if (!kept.has(layer)) kept.set(layer, { hidden: acts.hidden, bySample: new Map() });
      const { hidden, bySample } = kept.get(layer)!;
      for (let r = 0; r < batch.batch; r++) {
        if (!this.admitted.has(batch.samples[r])) continue;
        const from = r * batch.seq * hidden;
        bySample.set(batch.samples[r], acts.data.slice(from, from + rowLength(batch, r) * hidden));
      }
    }
  }

  /**
   * What `model.run(batch)` gives for a batch of prompt prefixes, from the kept rows: [batch, seq, hidden] per
   * layer, padding zeroed. Undefined unless every row of every layer was kept.
   */
  outputs(model: HookedModel, batch: PlannedBatch): Map<number, Activations> | undefined {
    const kept = this.models.get(model);
    if (!kept || kept.size === 0) return undefined;
    const out = new Map<number, Activations>();
    for (const [layer, { hidden, bySample }] of kept) {
      const data = new Float32Array(batch.batch * batch.seq * hidden);
      for (let r = 0; r < batch.batch; r++) {
        const rows = bySample.get(batch.samples[r]);
        const length = rowLength(batch, r) * hidden;
        if (!rows || length > rows.length) return undefined;
        data.set(rows.subarray(0, length), r * batch.seq * hidden);
      }
      out.set(layer, { data, hidden, tensor: new ort.Tensor('float32', data, [batch.batch, batch.seq, hidden]) });
    }
    return out;
  }
}
