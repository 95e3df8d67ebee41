/**
 * A small pass after the main run that adds detail to each listed shifted feature (docs/report-format.md):
 * - contexts as token windows (24 tokens before, 4 after) with the feature's activation at every token,
 *   found by replaying the model and the SAE on the few prompts the top contexts come from; windows with
 *   the same tokens are listed once; the prompts they come from are stored in `prompts`;
 * - logit effects: the top promoted and suppressed tokens of W_dec[f] · W_U (logitEffects.ts);
 * - a Neuronpedia URL when the SAE's cfg.json names a Neuronpedia id.
 */
import { ort } from '../runtime/ort';
import { sizeVariable } from '../core/sizeVariable';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HookPoint, SaeFormat } from '../config/types';
import { planBatches } from '../data/batching';
import { readJson } from '../model/modelFolder';
import { hostData, releaseActivations, type HookedModel } from '../model/runner';
import { loadSaeWeights, readSaeInfo, type SaeWeights } from '../sae/loadSae';
import { ARCHITECTURES } from '../sae/architectures';
import { buildEncoderGraph, latentSubset, saeGraphOptions } from '../sae/saeGraph';
import { createSession, type SessionSettings } from '../runtime/session';
import { logitEffects } from './logitEffects';
import { type OutputProjection, outputProjectionReader } from './outputProjection';
import type { ActivatingContext, ComparisonReport, LayerReport, ShiftedFeature } from '../../shared/reportTypes';
import { readUnembedding, type Unembedding } from './unembedding';
import type { ModelSource } from '../model/modelSource';
import type { KeptActivations } from './keptActivations';

export const WINDOW_BEFORE = 24;
export const WINDOW_AFTER = 4;
/**
 * The replay runs each model again on the prompts that hold listed contexts, so it is bounded to keep it
 * small next to the main run: at most this many tokens per model, or this share of the run's tokens when that
 * is more. Prompts are taken by contexts per replayed token; contexts in other prompts keep their text
 * without per-token values.
 */
export const REPLAY_MIN_TOKENS = 4096;
export const REPLAY_TOKEN_SHARE = 0.05;

export interface FeatureDetailInputs {
  /** The report's comparisons: their listed features get their details, in place. */
  comparisons: ComparisonReport[];
  /** The run's warnings, which a missing unembedding adds to. */
  warnings: string[];
  /** Per layer: the SAE folder and format. */
  saeFolders: Map<number, string>;
  saeFormat: SaeFormat;
  base: HookedModel;
  /** The fine-tunes, in comparison order. */
  sfts: HookedModel[];
  sequences: number[][];
  decode(ids: number[]): string;
  padId: number;
  batchSize: number;
  /** Base's ONNX file or checkpoint: W_U for the logit effects is read from it. */
  baseModel: ModelSource;
  /** Where the SAEs read: an attn_z direction reaches W_U through the layer's W_O (outputProjection.ts). */
  hookPoint: HookPoint;
  settings: SessionSettings;
  /** SAEs the run already loaded (keepLoadedSae), by layer; the others are read again from their folders. */
  loadedSaes?: Map<number, SaeWeights>;
  /** The main pass's activations, when the run kept them (report/keptActivations.ts): no model is run again. */
  kept?: KeptActivations;
  log?(line: string): void;
}

/**
 * Host bytes of loaded SAEs a run keeps for this pass, all layers together. Holding an SAE doubles its memory
 * for the whole run (ONNX Runtime holds its own copy) while reading it again costs little (about 0.2 s at
 * width 8192 × 512): on the bench, keeping its three 32 MiB SAEs raised the peak RSS by about 140 MB, above
 * the PyTorch peer's, and saved no measurable time. So only small SAEs are kept; the others are read again.
 */
export const KEEP_LOADED_SAE_BYTES = 16 * 2 ** 20;
/** Overrides the bound (MiB; 0 reads every SAE again, only its listed features' weights where it can). */
export const KEEP_LOADED_SAES_ENV = 'SAE_DIFF_KEEP_SAES_MB';

/** The bound in bytes: KEEP_LOADED_SAE_BYTES, or the variable's value. */
export function keepLoadedSaeBytes(env: Record<string, string | undefined> = process.env): number {
  const hint = 'Give the memory the feature details may keep SAEs in, in MiB (0 reads them again), or unset it.';
  return sizeVariable(env, KEEP_LOADED_SAES_ENV, 0, 'a size', hint) ?? KEEP_LOADED_SAE_BYTES;
}

/**
 * Keeps `sae` in `kept` for addFeatureDetails: at no cost when its projector's session holds its weights
 * anyway (`heldByProjector`: fed, not copied), else while the kept SAEs stay within keepLoadedSaeBytes().
 */
export function keepLoadedSae(
  kept: Map<number, SaeWeights>,
  layer: number,
  sae: SaeWeights,
  heldByProjector = false,
  bound = keepLoadedSaeBytes(),
): void {
  const bytes = (s: SaeWeights) => (keptAtNoCost.has(s) ? 0 : s.W_enc.byteLength + s.W_dec.byteLength);
  if (heldByProjector) keptAtNoCost.add(sae);
  const held = [...kept.values()].reduce((n, s) => n + bytes(s), 0);
  if (held + bytes(sae) <= bound) kept.set(layer, sae);
}
const keptAtNoCost = new WeakSet<SaeWeights>();

/** What the pass adds beside the features: the report's `prompts`, and its time (run.timings.details). */
export interface FeatureDetails {
  prompts: Record<string, string>;
  seconds: number;
}

/** Adds token-window contexts, logit effects and Neuronpedia URLs to the comparisons' listed features, in place. */
export async function addFeatureDetails(r: FeatureDetailInputs): Promise<FeatureDetails> {
  const started = performance.now();
  const unembedding = readUnembedding(r.baseModel);
  if (typeof unembedding === 'string') r.warnings.push(`Logit effects are not shown: ${unembedding}.`);
  const prompts = new Set<number>();
  // Every layer's SAE encoder first, so each model is replayed once for all layers.
  const replayed: ReplayLayer[] = [];
  try {
    for (const [layer, folder] of r.saeFolders) {
      const layers = r.comparisons.map((c) => c.layers.find((l) => l.layer === layer));
      if (layers.every((l) => !l || l.shifted_features.length === 0)) continue;
      const unique = [...new Set(layers.flatMap((l) => l?.shifted_features.map((f) => f.id) ?? []))];
      replayed.push({ layer, folder, layers, unique, ...(await listedEncoder(layer, folder, r, unique)) });
    }
    // Base contexts are the same model for every comparison: replay base once.
    await replayContexts(
      r,
      r.base,
      replayed.map((p) => ({ ...p, features: p.layers.flatMap((l) => l?.shifted_features ?? []) })),
      'base',
      prompts,
    );
    for (let si = 0; si < r.sfts.length; si++) {
      await replayContexts(
        r,
        r.sfts[si],
        replayed.map((p) => ({ ...p, features: p.layers[si]?.shifted_features ?? [] })),
        'sft',
        prompts,
      );
    }
  } finally {
    for (const p of replayed) await p.encoder.release().catch(() => {});
  }
  const outputProjection = outputProjectionReader(r.baseModel);
  for (const { layer, folder, dIn, layers, unique, decoderRows } of replayed) {
    const neuronpedia = neuronpediaId(folder);
    const effects =
      typeof unembedding === 'string'
        ? undefined
        : await effectsOf(r, layer, dIn, decoderRows, unique.length, unembedding, outputProjection);
    for (const l of layers) {
      for (const f of l?.shifted_features ?? []) {
        const i = unique.indexOf(f.id);
        if (effects) {
          const named = (e: { id: number; value: number }) => ({ token: r.decode([e.id]), id: e.id, value: e.value });
          f.logit_effects = { promoted: effects[i].promoted.map(named), suppressed: effects[i].suppressed.map(named) };
        }
        if (neuronpedia) f.neuronpedia_url = `https://www.neuronpedia.org/${neuronpedia}/${f.id}`;
      }
    }
  }
  return {
    prompts: Object.fromEntries([...prompts].sort((a, b) => a - b).map((s) => [String(s), r.decode(r.sequences[s].slice(1))])),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The Neuronpedia id SAELens writes into cfg.json (`neuronpedia_id`, or `metadata.neuronpedia_id` in SAELens 6). */
export function neuronpediaId(folder: string): string | undefined {
  const file = join(folder, 'cfg.json');
  if (!existsSync(file)) return undefined;
  try {
    const cfg = readJson(file) as { neuronpedia_id?: unknown; metadata?: { neuronpedia_id?: unknown } } | null;
    const id = cfg?.neuronpedia_id ?? cfg?.metadata?.neuronpedia_id;
    // An id is "model/sae-set" path segments; anything else is not turned into a URL.
    return typeof id === 'string' && /^[\w.-]+(\/[\w.-]+)+$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

function gatherRows(matrix: Float32Array, width: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((row, i) => out.set(matrix.subarray(row * width, (row + 1) * width), i * width));
  return out;
}

/** One hooked layer in the replay: its SAE encoder and the report's layers (one per comparison). */
/**
 * The logit effects of one layer's listed features: W_dec[f] · W_U, or for attn_z W_dec[f] · W_Oᵀ · W_U (the direction
 * reaches the residual stream through the layer's output projection); none when the widths do not meet.
 */
async function effectsOf(
  r: FeatureDetailInputs,
  layer: number,
  dIn: number,
  decoderRows: Float32Array,
  n: number,
  unembedding: Unembedding,
  outputProjection: (layer: number) => OutputProjection | string,
): Promise<Awaited<ReturnType<typeof logitEffects>> | undefined> {
  if (r.hookPoint !== 'attn_z') return unembedding.hidden === dIn ? logitEffects(decoderRows, n, unembedding, r.settings) : undefined;
  const through = outputProjection(layer);
  if (typeof through === 'string') {
    r.warnings.push(`Logit effects of layer ${layer} are not shown: ${through}.`);
    return undefined;
  }
  return through.width === dIn && through.hidden === unembedding.hidden
    ? logitEffects(decoderRows, n, unembedding, r.settings, through)
    : undefined;
}

/**
 * The SAE's encoder for the listed latents, and their decoder rows. In a function of its own so that the
 * whole SAE's weights are garbage once it returns, never held beside the next layer's or during the replays.
 */
async function listedEncoder(
  layer: number,
  folder: string,
  r: FeatureDetailInputs,
  unique: number[],
): Promise<Pick<ReplayLayer, 'dIn' | 'encoder' | 'decoderRows' | 'column'>> {
  // Only the listed latents are encoded where each depends on its own column (not TopK): exact, and |listed| /
  // width of the cost. They come from the run's own copy of the SAE when it kept one (small SAEs,
  // pipeline/saes.ts); otherwise from the file, reading only theirs (the whole SAE for TopK), freed on return.
  const kept = r.loadedSaes?.get(layer);
  const info = kept ?? readSaeInfo(folder, r.saeFormat);
  const subset = ARCHITECTURES[info.architecture].featureWise;
  const sae = kept ? (subset ? latentSubset(kept, unique) : kept) : loadSaeWeights(info, subset ? unique : undefined);
  const encoder = await createSession(buildEncoderGraph(sae, saeGraphOptions(r.settings)), r.settings, `the SAE encoder of ${folder}`);
  // keep only the decoder rows of the listed features, not the whole SAE, while the models replay (a subset's rows are theirs)
  return {
    dIn: sae.dIn,
    encoder,
    decoderRows: subset ? sae.W_dec : gatherRows(sae.W_dec, sae.dIn, unique),
    column: subset ? new Map(unique.map((f, j) => [f, j])) : undefined,
  };
}

interface ReplayLayer {
  layer: number;
  folder: string;
  dIn: number;
  encoder: ort.InferenceSession;
  layers: (LayerReport | undefined)[];
  /** The listed features' ids and their decoder rows (for the logit effects). */
  unique: number[];
  decoderRows: Float32Array;
  /** The encoder's column of each listed latent when it encodes only those; undefined: the latent's id. */
  column?: Map<number, number>;
}

type ContextJob = { feature: ShiftedFeature; index: number; context: ActivatingContext };

/**
 * Replays `model` once on the prompts of the features' `side` contexts at every layer, encodes the window
 * tokens with each layer's SAE, and rewrites each context as its token window with the feature's activation
 * per token. Prompts are cut after their last window (the model is causal, so earlier activations are the
 * same), within the replay's token budget.
 */
async function replayContexts(
  r: FeatureDetailInputs,
  model: HookedModel,
  layers: (ReplayLayer & { features: ShiftedFeature[] })[],
  side: 'base' | 'sft',
  prompts: Set<number>,
): Promise<void> {
  // per layer: sample -> the contexts to rewrite
  const wanted = new Map<number, Map<number, ContextJob[]>>();
  const jobsPerSample = new Map<number, number>();
  const end = new Map<number, number>();
  for (const { layer, features } of layers) {
    const bySample = new Map<number, ContextJob[]>();
    for (const feature of features) {
      (feature.contexts?.[side] ?? []).forEach((context, index) => {
        if (context.tokens) return; // already a window (the base side of a feature listed by several fine-tunes)
        if (!bySample.has(context.sample)) bySample.set(context.sample, []);
        bySample.get(context.sample)!.push({ feature, index, context });
        jobsPerSample.set(context.sample, (jobsPerSample.get(context.sample) ?? 0) + 1);
        // each prompt is replayed only up to its last window's end (the model is causal)
        const last = Math.min(r.sequences[context.sample].length - 1, context.position + WINDOW_AFTER);
        end.set(context.sample, Math.max(end.get(context.sample) ?? 1, last));
      });
    }
    wanted.set(layer, bySample);
  }
  if (jobsPerSample.size === 0) return;
  const totalTokens = r.sequences.reduce((n, s) => n + s.length, 0);
  const budget = Math.max(REPLAY_MIN_TOKENS, Math.round(REPLAY_TOKEN_SHARE * totalTokens));
  const chosen: number[] = [];
  let spent = 0;
  const byYield = [...jobsPerSample.keys()].sort(
    (a, b) => jobsPerSample.get(b)! / (end.get(b)! + 1) - jobsPerSample.get(a)! / (end.get(a)! + 1) || a - b,
  );
  for (const sample of byYield) {
    const cost = end.get(sample)! + 1;
    if (spent + cost > budget) continue;
    spent += cost;
    chosen.push(sample);
  }
  if (chosen.length < jobsPerSample.size) {
    r.log?.(
      `feature details (${side}): token windows from ${chosen.length} of ${jobsPerSample.size} prompts (${spent} of at most ${budget} replayed tokens)`,
    );
  }
  const cut = r.sequences.slice();
  for (const sample of chosen) cut[sample] = r.sequences[sample].slice(0, end.get(sample)! + 1);
  // the prompts the main pass kept are cut from its activations, in batches of their own; only the others run
  const kept = chosen.filter((s) => r.kept?.holds(s)).sort((a, b) => a - b);
  const replay = chosen.filter((s) => !r.kept?.holds(s)).sort((a, b) => a - b);
  if (kept.length > 0 && replay.length > 0) {
    r.log?.(`feature details (${side}): ${kept.length} prompts cut from the kept activations, ${replay.length} replayed`);
  }
  const batches = [...planBatches(cut, r.batchSize, r.padId, kept), ...planBatches(cut, r.batchSize, r.padId, replay)];
  for (const batch of batches) {
    const outputs = r.kept?.outputs(model, batch) ?? (await model.run(batch));
    try {
      for (const { layer, dIn, encoder, column } of layers) {
        const acts = outputs.get(layer);
        // device-resident outputs (WebGPU, dense path) are read to the host
        const data = acts ? await hostData(acts) : undefined;
        if (!acts || !data) continue;
        // the union of each prompt's windows, for every prompt of the batch, encoded in one run
        const rowsOf = new Map<number, { ids: number[]; jobs: ContextJob[]; positions: number[]; offset: number }>();
        let count = 0;
        for (let row = 0; row < batch.batch; row++) {
          const sample = batch.samples[row];
          const ids = r.sequences[sample];
          const jobs = wanted.get(layer)!.get(sample) ?? [];
          if (jobs.length === 0) continue;
          const positions = [...new Set(jobs.flatMap(({ context }) => windowOf(context.position, ids.length)))].sort((a, b) => a - b);
          rowsOf.set(row, { ids, jobs, positions, offset: count });
          count += positions.length;
        }
        if (count === 0) continue;
        const x = new Float32Array(count * dIn);
        for (const [row, { positions, offset }] of rowsOf) {
          positions.forEach((p, i) =>
            x.set(data.subarray((row * batch.seq + p) * acts.hidden, (row * batch.seq + p + 1) * acts.hidden), (offset + i) * dIn),
          );
        }
        const z = (await encoder.run({ x: new ort.Tensor('float32', x, [count, dIn]) })).z.data as Float32Array;
        const width = z.length / count;
        for (const [row, { ids, jobs, positions, offset }] of rowsOf) {
          for (const { feature, index, context } of jobs) {
            const window = windowOf(context.position, ids.length);
            const list = feature.contexts![side];
            list[index] = {
              ...context,
              tokens: window.map((p) => r.decode([ids[p]])),
              token_ids: window.map((p) => ids[p]),
              activations: window.map((p) => z[(offset + positions.indexOf(p)) * width + (column?.get(feature.id) ?? feature.id)]),
              focus: window.indexOf(context.position),
            };
            prompts.add(batch.samples[row]);
          }
        }
      }
    } finally {
      releaseActivations(outputs.values());
    }
  }
  for (const { features } of layers)
    for (const feature of features) if (feature.contexts) feature.contexts[side] = dedupe(feature.contexts[side]);
}

/** Positions of the window around `position`, never the BOS (position 0). */
function windowOf(position: number, length: number): number[] {
  const from = Math.max(1, position - WINDOW_BEFORE);
  const to = Math.min(length - 1, position + WINDOW_AFTER);
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Tokens around the firing one that make two contexts "the same" to a reader. */
const SAME_BEFORE = 8;

/**
 * Contexts whose near text is the same (the firing token with 8 tokens before and the window's tokens
 * after, like a chat template's `<|user|>` marker in every prompt) are marked with `duplicate_of`, the index
 * of the first (highest) one; the panel lists each text once. The list itself stays as the run found it, so
 * a merged sharded run and a single run keep equal lists.
 */
function dedupe(contexts: ActivatingContext[]): ActivatingContext[] {
  const first = new Map<string, number>();
  return contexts.map((c, i) => {
    if (!c.token_ids || c.focus === undefined) return c;
    const key = c.token_ids.slice(Math.max(0, c.focus - SAME_BEFORE)).join(',');
    if (!first.has(key)) {
      first.set(key, i);
      return c;
    }
    return { ...c, duplicate_of: first.get(key)! };
  });
}
