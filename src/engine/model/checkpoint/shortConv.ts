/**
 * LFM2's short-convolution token mixer (transformers 5.18 modeling_lfm2.py Lfm2ShortConv), on its conv layers, as
 * part of the decoder graph (decoderGraph.ts): padding tokens' inputs zeroed (apply_mask_to_padding_states);
 * in_proj into B, C and x (chunk(3) over the channels); B · x through a causal depthwise convolution of kernel
 * conv_L_cache (F.conv1d with kernel - 1 zeros in front, groups = channels, conv_bias); times C; out_proj.
 */
import { intAttr } from '../onnxGraph';
import type { ShortConvSpec } from './mixerConfig';
import type { Projections } from './graphParts';
import type { WeightReader } from './checkpointWeights';
import { causalConv, realTokens } from './recurrentParts';
import type { ScopedGraph } from './scopedGraph';

/** The conv branch of block `block` (weights under `w`) on its normed input x [B, S, hidden]. */
export function shortConv(
  ctx: { g: ScopedGraph; weights: WeightReader; projections: Projections; hidden: number },
  spec: ShortConvSpec,
  block: string,
  w: string,
  x: string,
): string {
  const { g, weights, projections, hidden } = ctx;
  const scope = `${block}/conv`;
  const masked = g.one(scope, 'Mul', [x, realTokens(g, scope, g.act)]);
  const projected = projections.linear(`${scope}/in_proj`, masked, `${w}.conv.in_proj`, 3 * hidden, spec.bias, hidden);
  const [b, c, input] = g.op(
    scope,
    'Split',
    [projected, g.int64s(`sae_diff.split_3x${hidden}`, [hidden, hidden, hidden])],
    [intAttr('axis', -1)],
    3,
  );
  const weight = weights.get(`${w}.conv.conv.weight`, [hidden, 1, spec.kernel]);
  const bias = spec.bias ? weights.get(`${w}.conv.conv.bias`, [hidden]) : undefined;
  const conv = causalConv(g, scope, g.one(scope, 'Mul', [b, input]), { weight, bias, channels: hidden, kernel: spec.kernel, silu: false });
  const gated = g.one(scope, 'Mul', [c, conv]);
  return projections.linear(`${scope}/out_proj`, gated, `${w}.conv.out_proj`, hidden, spec.bias, hidden);
}
