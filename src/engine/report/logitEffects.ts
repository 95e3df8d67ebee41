/**
 * Logit effects of SAE features: W_dec[f] · W_U for every vocabulary token, and the 10 largest (promoted)
 * and smallest (suppressed) entries, computed in one ONNX Runtime session (MatMul, TopK) rather than in
 * JavaScript loops.
 */
import { ort } from '../runtime/ort';
import { onnx } from 'onnx-proto';
import { encodeOnnxModel, makeNode, intAttr, valueInfo } from '../model/onnxGraph';
import { createSession, type SessionSettings } from '../runtime/session';
import type { OutputProjection } from './outputProjection';
import type { Unembedding } from './unembedding';

export const LOGIT_TOP = 10;

export interface LogitEffect {
  id: number;
  value: number;
}

/** `projected`: the directions go through P (an attn_z direction to the residual stream: W_Oᵀ) before W_U. */
function graph(k: number, projected: boolean): Uint8Array {
  const kTensor = onnx.TensorProto.create({ name: 'k', dataType: 7, dims: [1], int64Data: [k] });
  return encodeOnnxModel({
    irVersion: 8,
    producerName: 'sae-diff',
    opsetImport: [{ domain: '', version: 17 }],
    graph: onnx.GraphProto.create({
      name: 'logit_effects',
      node: [
        ...(projected ? [makeNode('MatMul', ['D0', 'P'], ['D'], 'project')] : []),
        makeNode('MatMul', ['D', 'W'], ['L'], 'matmul'),
        makeNode('TopK', ['L', 'k'], ['pv', 'pi'], 'top', [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)]),
        makeNode('TopK', ['L', 'k'], ['sv', 'si'], 'bottom', [intAttr('axis', 1), intAttr('largest', 0), intAttr('sorted', 1)]),
      ],
      initializer: [kTensor],
      input: projected ? [valueInfo('D0', 1), valueInfo('P', 1), valueInfo('W', 1)] : [valueInfo('D', 1), valueInfo('W', 1)],
      output: [valueInfo('pv', 1), valueInfo('pi', 7), valueInfo('sv', 1), valueInfo('si', 7)],
    }),
  });
}

/**
 * For each row of `directions` ([n, hidden], W_dec rows; [n, through.width] with `through`, which takes them to the
 * residual stream first): the top promoted and suppressed token ids with their values.
 */
export async function logitEffects(
  directions: Float32Array,
  n: number,
  unembedding: Unembedding,
  settings: SessionSettings,
  through?: OutputProjection,
): Promise<{ promoted: LogitEffect[]; suppressed: LogitEffect[] }[]> {
  if (n === 0) return [];
  const k = Math.min(LOGIT_TOP, unembedding.vocab);
  const session = await createSession(graph(k, through !== undefined), settings, 'the logit-effect graph');
  try {
    const W = new ort.Tensor('float32', unembedding.data, [unembedding.hidden, unembedding.vocab]);
    const out = await session.run(
      through
        ? {
            D0: new ort.Tensor('float32', directions, [n, through.width]),
            P: new ort.Tensor('float32', through.data, [through.width, through.hidden]),
            W,
          }
        : { D: new ort.Tensor('float32', directions, [n, unembedding.hidden]), W },
    );
    const read = (values: string, ids: string, row: number) =>
      Array.from({ length: k }, (_, j) => ({
        id: Number((out[ids].data as BigInt64Array)[row * k + j]),
        value: (out[values].data as Float32Array)[row * k + j],
      }));
    return Array.from({ length: n }, (_, row) => ({ promoted: read('pv', 'pi', row), suppressed: read('sv', 'si', row) }));
  } finally {
    await session.release();
  }
}
