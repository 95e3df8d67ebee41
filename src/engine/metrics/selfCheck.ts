import type { HookPoint } from '../config/types';
import type { Activations, ProbeKind } from '../model/runner';
import type { SelfCheck } from '../../shared/reportTypes';
import type { Projector } from '../sae/projector';

/** How well the SAE explains base at one residual position around its layer. */
export interface NeighbourFit {
  kind: ProbeKind;
  explainedVariance: number;
}

const KIND_TEXT: Record<ProbeKind, string> = {
  resid_pre: 'the stream entering the block (resid_pre)',
  resid_post: 'the stream leaving the block (resid_post)',
  next_resid_post: 'the stream leaving the next block',
};

/**
 * The neighbouring-position fits take at most this many of the first chunk's evaluated tokens (every position
 * on the same tokens, so they compare like with like). Each fit is one more SAE projection of its tokens, and
 * the dense path encodes them twice: on a GPU's chunk of 8,192 tokens (runtime/deviceBatch.ts's MAX_CHUNK),
 * three fits per layer of the whole chunk were 49k encodings per layer beside the large workload's 130k. On
 * the CPU (512-token chunks) the cap changes nothing.
 */
export const SELF_CHECK_TOKENS = 2048;

/** EV of the SAE on each probed position of one batch's evaluated tokens (base only). */
export async function neighbourFits(
  projector: Projector,
  outputs: Map<string, Activations>,
  probes: Map<ProbeKind, string>,
  rows: Int32Array,
): Promise<NeighbourFit[]> {
  if (rows.length < 2) return [];
  const probed = [...probes]
    .map(([kind, name]) => ({ kind, acts: outputs.get(name) }))
    .filter((p): p is { kind: ProbeKind; acts: Activations } => p.acts !== undefined && p.acts.hidden === projector.hidden);
  const sums = await projector.fits(
    probed.map((p) => p.acts),
    rows,
  );
  return probed.map(({ kind }, i) => {
    const { err, sq, sum } = sums[i];
    let muSq = 0;
    for (let j = 0; j < sum.length; j++) muSq += sum[j] * sum[j];
    const total = sq - muSq / rows.length;
    return { kind, explainedVariance: total > 0 ? 1 - err / total : 0 };
  });
}

/**
 * Before anyone reads the diff: does the base SAE describe base where it is hooked? It fails when the
 * SAE explains less than the mean, when its L0 or explained variance is far from what the SAE declares,
 * or when it explains a neighbouring position of the residual stream better than the hooked one.
 */
export function selfCheck(
  layer: number,
  hookPoint: HookPoint,
  l0Base: number,
  evBase: number,
  declared: { l0?: number; explainedVariance?: number; maxL0?: number },
  fits: NeighbourFit[],
  maxL0Ratio: number,
): SelfCheck {
  const messages: string[] = [];
  // what the architecture guarantees on every token (TopK: at most k latents), so the mean cannot exceed it
  if (declared.maxL0 !== undefined && l0Base > declared.maxL0 + 1e-9) {
    messages.push(
      `Layer ${layer}: base L0 is ${l0Base.toFixed(1)}, above the ${declared.maxL0} latents per token the SAE's architecture allows (TopK k).`,
    );
  }
  if (!Number.isFinite(evBase) || !Number.isFinite(l0Base)) {
    messages.push(
      `Layer ${layer}: the SAE's explained variance (${evBase}) or L0 (${l0Base}) on base is not a finite number: its weights or its input hold NaN or Inf.`,
    );
  } else if (evBase < 0)
    messages.push(`Layer ${layer}: the SAE explains less of base than its mean does (explained variance ${evBase.toFixed(3)}).`);
  if (declared.l0 !== undefined && declared.l0 > 0) {
    const ratio = l0Base / declared.l0;
    if (ratio > maxL0Ratio || ratio < 1 / maxL0Ratio)
      messages.push(`Layer ${layer}: base L0 is ${l0Base.toFixed(1)} but the SAE declares ${declared.l0}.`);
  }
  if (declared.explainedVariance !== undefined && declared.explainedVariance - evBase > 0.15) {
    messages.push(`Layer ${layer}: explained variance on base is ${evBase.toFixed(3)} but the SAE declares ${declared.explainedVariance}.`);
  }
  const assigned = fits.find((f) => f.kind === hookPoint);
  const better = fits
    .filter((f) => f.kind !== hookPoint && assigned && f.explainedVariance > assigned.explainedVariance + 0.02)
    .sort((a, b) => b.explainedVariance - a.explainedVariance)[0];
  if (assigned && better) {
    messages.push(
      `Layer ${layer}: the SAE explains ${KIND_TEXT[better.kind]} better (explained variance ${better.explainedVariance.toFixed(3)}) than the hooked ${hookPoint} (${assigned.explainedVariance.toFixed(3)}).`,
    );
  }
  if (messages.length > 0)
    messages.push('The hook point, BOS handling or activation normalisation is probably wrong: read this diff with care.');
  return {
    ok: messages.length === 0,
    l0_base: l0Base,
    explained_variance_base: evBase,
    ...(declared.l0 !== undefined ? { declared_l0: declared.l0 } : {}),
    ...(declared.explainedVariance !== undefined ? { declared_explained_variance: declared.explainedVariance } : {}),
    messages,
  };
}
