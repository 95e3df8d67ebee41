/**
 * What the token mixers without attention share (linearAttention.ts, mamba2.ts, shortConv.ts), as transformers 5.18's
 * modeling code computes it: the padding mask they zero their inputs with (apply_mask_to_padding_states), the causal
 * depthwise convolution (causal_conv1d_fn), softplus, and a recurrence over the sequence from a zero state as an ONNX
 * Scan (its body one token's step).
 */
import { onnx } from 'onnx-proto';
import { intAttr, TensorDataType, valueInfo } from '../onnxGraph';
import { FLOAT, ints, type ScopedGraph } from './scopedGraph';

/** attention_mask as [B, S, 1] in `type`: 1 at real tokens, 0 at padding. */
export function realTokens(g: ScopedGraph, scope: string, type: number): string {
  const mask = g.one(
    scope,
    'Unsqueeze',
    [g.cast(scope, 'attention_mask', TensorDataType.INT64, FLOAT), g.int64s('sae_diff.axes_last', [-1])],
    [],
    FLOAT,
  );
  return g.cast(scope, mask, FLOAT, type);
}

/**
 * causal_conv1d_fn on x [B, S, channels]: F.conv1d over [B, channels, S] with kernel - 1 zeros in front and
 * groups = channels (weight [channels, 1, kernel], an optional bias), then SiLU where `silu`; back as [B, S, channels].
 */
export function causalConv(
  g: ScopedGraph,
  scope: string,
  x: string,
  conv: { weight: string; bias?: string; channels: number; kernel: number; silu: boolean },
): string {
  const inputs = [g.one(scope, 'Transpose', [x], [ints('perm', [0, 2, 1])]), conv.weight, ...(conv.bias ? [conv.bias] : [])];
  let y = g.one(`${scope}/conv1d`, 'Conv', inputs, [
    intAttr('group', conv.channels),
    ints('kernel_shape', [conv.kernel]),
    ints('pads', [conv.kernel - 1, 0]),
  ]);
  if (conv.silu) y = g.one(scope, 'Mul', [y, g.one(scope, 'Sigmoid', [y])]);
  return g.one(scope, 'Transpose', [y], [ints('perm', [0, 2, 1])]);
}

/** F.softplus in float32: x itself above 20, else ln(1 + e^x). */
export function softplus(g: ScopedGraph, scope: string, x: string): string {
  const f32 = (op: string, inputs: string[]) => g.one(scope, op, inputs, [], FLOAT);
  return f32('Where', [
    g.one(scope, 'Greater', [x, g.floats('sae_diff.softplus_threshold', Float32Array.of(20), [])], [], null),
    x,
    f32('Log', [f32('Add', [f32('Exp', [x]), g.floats('sae_diff.one_f32', Float32Array.of(1), [])])]),
  ]);
}

/** One token's step of a recurrence: node [opType, inputs, output] triples over named values, the state first. */
export interface RecurrenceStep {
  name: string;
  /** The step's inputs after the state, each scanned over axis 1 of its tensor. */
  inputs: string[];
  nodes: [opType: string, inputs: string[], output: string][];
  /** The new state's value, and the value the Scan stacks over the sequence. */
  nextState: string;
  output: string;
}

/**
 * The recurrence `step` over the sequence (axis 1 of each of `inputs`) from a zero float32 state [B, ...stateDims],
 * as an ONNX Scan; its per-token outputs stacked on axis 1.
 */
export function scanFromZero(g: ScopedGraph, scope: string, stateDims: number[], inputs: string[], step: RecurrenceStep): string {
  const batch = g.one(
    scope,
    'Slice',
    [g.one(scope, 'Shape', ['input_ids'], [], null), g.int64s('sae_diff.slice_from_0', [0]), g.int64s('sae_diff.slice_to_1', [1])],
    [],
    null,
  );
  const shape = g.one(scope, 'Concat', [batch, g.int64s(`sae_diff.state_${stateDims.join('_')}`, stateDims)], [intAttr('axis', 0)], null);
  const zero = g.one(
    scope,
    'ConstantOfShape',
    [shape],
    [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dataType: FLOAT, dims: [1], floatData: [0] } }],
    FLOAT,
  );
  const [, outputs] = g.op(
    scope,
    'Scan',
    [zero, ...inputs],
    [
      { name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: stepGraph(`${scope}/${step.name}`, step) },
      intAttr('num_scan_inputs', inputs.length),
      ints(
        'scan_input_axes',
        inputs.map(() => 1),
      ),
      ints('scan_output_axes', [1]),
    ],
    2,
    FLOAT,
  );
  return outputs;
}

/** The Scan's body graph: the state and the step's inputs in, the new state and the step's output out (float32). */
function stepGraph(name: string, step: RecurrenceStep): onnx.IGraphProto {
  const t = (s: string) => `${name}/${s}`;
  return {
    name,
    node: step.nodes.map(([opType, inputs, output]) => ({
      opType,
      input: inputs.map(t),
      output: [t(output)],
      name: t(`${opType}_${output}`),
    })),
    input: ['state', ...step.inputs].map((i) => valueInfo(t(i), FLOAT)),
    output: [valueInfo(t(step.nextState), FLOAT), valueInfo(t(step.output), FLOAT)],
  };
}
