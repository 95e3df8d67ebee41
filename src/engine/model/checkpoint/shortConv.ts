/**
 * LFM2's short-convolution token mixer (transformers 5.18 modeling_lfm2.py Lfm2ShortConv), on its conv layers, as
 * part of the decoder graph (decoderGraph.ts): padding tokens' inputs zeroed (apply_mask_to_padding_states);
 * in_proj into B, C and x (chunk(3) over the channels); B · x through a causal depthwise convolution of kernel
 * conv_L_cache (F.conv1d with kernel - 1 zeros in front, groups = channels, conv_bias); times C; out_proj.
 */
import { intAttr, TensorDataType } from '../onnxGraph';
import type { ShortConvSpec } from './decoderConfig';
import type { Projections } from './graphParts';
import type { WeightReader } from './checkpointWeights';
import { FLOAT, ints, type ScopedGraph } from './scopedGraph';

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
  const real = g.cast(
    scope,
    g.one(
      scope,
      'Unsqueeze',
      [g.cast(scope, 'attention_mask', TensorDataType.INT64, FLOAT), g.int64s('sae_diff.axes_last', [-1])],
      [],
      FLOAT,
    ),
    FLOAT,
    g.act,
  );
  const masked = g.one(scope, 'Mul', [x, real]);
  const projected = projections.linear(`${scope}/in_proj`, masked, `${w}.conv.in_proj`, 3 * hidden, spec.bias, hidden);
  const [b, c, input] = g.op(
    scope,
    'Split',
    [projected, g.int64s(`sae_diff.split_3x${hidden}`, [hidden, hidden, hidden])],
    [intAttr('axis', -1)],
    3,
  );
  const channels = g.one(scope, 'Transpose', [g.one(scope, 'Mul', [b, input])], [ints('perm', [0, 2, 1])]);
  const convInputs = [channels, weights.get(`${w}.conv.conv.weight`, [hidden, 1, spec.kernel])];
  if (spec.bias) convInputs.push(weights.get(`${w}.conv.conv.bias`, [hidden]));
  const conv = g.one(`${scope}/conv`, 'Conv', convInputs, [
    intAttr('group', hidden),
    ints('kernel_shape', [spec.kernel]),
    ints('pads', [spec.kernel - 1, 0]),
  ]);
  const gated = g.one(scope, 'Mul', [c, g.one(scope, 'Transpose', [conv], [ints('perm', [0, 2, 1])])]);
  return projections.linear(`${scope}/out_proj`, gated, `${w}.conv.out_proj`, hidden, spec.bias, hidden);
}
