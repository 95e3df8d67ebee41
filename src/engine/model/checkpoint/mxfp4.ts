/**
 * MXFP4 expert weights as GPT-OSS is released (openai/gpt-oss-20b, -120b: quantization_config quant_method "mxfp4"),
 * dequantised in the graph as transformers 5.18 dequantises them (integrations/mxfp4.py convert_moe_packed_tensors):
 * - `<name>_blocks` uint8 [experts, outputs, groups, 16]: two FP4 (E2M1) codes a byte, the low nibble the even
 *   element, the high one the odd; a group is 32 consecutive inputs;
 * - `<name>_scales` uint8 [experts, outputs, groups]: each group's E8M0 exponent, value 2^(scale - 127);
 * - the weight is FP4_VALUES[code] · 2^(scale - 127) [experts, outputs, inputs], transposed to the parameter's
 *   [experts, inputs, outputs].
 * Every such value is exact in float32 (and in bfloat16, what transformers dequantises to). The nodes read only
 * initialisers, so ONNX Runtime folds them once, when the session is created.
 */
import { intAttr } from '../onnxGraph';
import type { WeightReader } from './checkpointWeights';
import { FLOAT, INT64, ints, type ScopedGraph } from './scopedGraph';

/** integrations/mxfp4.py FP4_VALUES: the E2M1 values of codes 0-15 (bit 3 the sign). */
const FP4_VALUES = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0, -0.5, -1, -1.5, -2, -3, -4, -6];

/** For each byte, its two values in order: [FP4(low nibble), FP4(high nibble)]. */
const BYTE_VALUES = Float32Array.from({ length: 512 }, (_, i) => FP4_VALUES[i % 2 === 0 ? (i >> 1) & 0x0f : (i >> 1) >> 4]);

/** 2^(e - 127) for each E8M0 exponent e (torch.ldexp of the values by scales - 127; 2^-127 is a float32 subnormal). */
const SCALES = Float32Array.from({ length: 256 }, (_, e) => Math.pow(2, e - 127));

/** The packed weight `name` (`..._blocks`, `..._scales`) of [experts, inputs, outputs], dequantised to float32. */
export function mxfp4Weight(g: ScopedGraph, weights: WeightReader, name: string, experts: number, inputs: number, outputs: number): string {
  const s = '/model/weights';
  // inputs not a multiple of 32 give a fractional group count, which the shape check refuses, naming the tensor
  const groups = inputs / 32;
  const blocks = weights.bytes(`${name}_blocks`, [experts, outputs, groups, 16]);
  const scales = weights.bytes(`${name}_scales`, [experts, outputs, groups]);
  const index = (t: string) => g.one(s, 'Cast', [t], [intAttr('to', INT64)], INT64);
  // [experts, outputs, groups, 16, 2]: each byte's low then high value
  const pairs = g.one(s, 'Gather', [g.floats('sae_diff.mxfp4_byte_values', BYTE_VALUES, [256, 2]), index(blocks)], [], FLOAT);
  const values = g.one(s, 'Reshape', [pairs, g.int64s(`sae_diff.mxfp4_groups_${groups}`, [0, 0, groups, 32])], [], FLOAT);
  const scale = g.one(s, 'Gather', [g.floats('sae_diff.mxfp4_scales', SCALES, [256]), index(scales)], [], FLOAT);
  const scaled = g.one(s, 'Mul', [values, g.one(s, 'Unsqueeze', [scale, g.int64s('sae_diff.axis_last', [-1])], [], FLOAT)], [], FLOAT);
  const rows = g.one(s, 'Reshape', [scaled, g.int64s(`sae_diff.mxfp4_rows_${inputs}`, [0, 0, inputs])], [], FLOAT);
  return g.one(s, 'Transpose', [rows], [ints('perm', [0, 2, 1])], FLOAT);
}
