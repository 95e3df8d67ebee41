/**
 * The expected.json of the fixtures made with PyTorch or transformers (test/fixtures/*.py): a batch (ids, mask) and
 * each hook point's activations per layer, flattened [batch, seq, hidden]; and how far a model's hooks are from them.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { HookPoint } from '../../src/engine/config/types';
import type { ModelSource } from '../../src/engine/model/modelSource';
import { HookedModel, type HookOptions, type TokenBatch } from '../../src/engine/model/runner';

export interface ExpectedActivations {
  batch: TokenBatch;
  /** By hook point, one flattened array per layer. */
  points: Partial<Record<HookPoint, number[][]>>;
}

/** `section`: a key of expected.json holding another set of hook points for the same batch (gpt2's `centred`). */
export function readExpected(file: string, section?: string): ExpectedActivations {
  const all = JSON.parse(fs.readFileSync(file, 'utf8')) as { ids: number[][]; mask: number[][] } & Record<string, any>;
  const e: Record<string, number[][]> = section ? all[section] : all;
  const batch: TokenBatch = {
    batch: all.ids.length,
    seq: all.ids[0].length,
    ids: Int32Array.from(all.ids.flat()),
    mask: Uint8Array.from(all.mask.flat()),
  };
  const points: ExpectedActivations['points'] = {};
  for (const p of ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out', 'attn_z'] as const) if (e[p]) points[p] = e[p];
  return { batch, points };
}

/** The expected.json in `folder`. */
export function expectedIn(folder: string, section?: string): ExpectedActivations {
  return readExpected(path.join(folder, 'expected.json'), section);
}

export interface LayerDifference {
  layer: number;
  /** max over real tokens of |got - want| / max(1, |want|). */
  relative: number;
  /** max |got - want| and max |want| over real tokens. */
  absolute: number;
  largest: number;
}

/** Runs `source` on the expected batch, hooked at `point` for every layer the expectation has, and compares. */
export async function differenceFromExpected(
  source: ModelSource | string,
  expected: ExpectedActivations,
  point: HookPoint,
  runtime: { provider: 'cpu' | 'webgpu'; threads: number },
  /** Hook options beyond the targets and the point (HookOptions.centred). */
  more: Partial<HookOptions> = {},
): Promise<LayerDifference[]> {
  const want = expected.points[point];
  if (!want) throw new Error(`no ${point} in the expectation`);
  const { batch } = expected;
  const model = await HookedModel.load(
    source,
    { targets: want.map((_, l) => l), hookPoint: point, tensorNames: new Map(), ...more },
    runtime,
  );
  try {
    const out = await model.run(batch);
    return want.map((values, layer) => {
      const got = out.get(layer)!;
      if (got.tensor.dims.length !== 3 || values.length !== batch.batch * batch.seq * got.hidden)
        throw new Error(
          `layer ${layer}: hooked [${got.tensor.dims.join(', ')}], expected ${values.length} values for [${batch.batch}, ${batch.seq}, hidden]`,
        );
      let relative = 0,
        absolute = 0,
        largest = 0;
      for (let i = 0; i < values.length; i++) {
        if (!batch.mask[Math.floor(i / got.hidden)]) continue;
        const d = Math.abs(got.data[i] - values[i]);
        relative = Math.max(relative, d / Math.max(1, Math.abs(values[i])));
        absolute = Math.max(absolute, d);
        largest = Math.max(largest, Math.abs(values[i]));
      }
      return { layer, relative, absolute, largest };
    });
  } finally {
    await model.release();
  }
}
