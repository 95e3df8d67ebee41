/**
 * Logit effects of SAE features: W_dec[f] · W_U for every vocabulary token, and the 10 largest (promoted)
 * and smallest (suppressed) entries, computed in one ONNX Runtime session (MatMul, TopK) rather than in
 * JavaScript loops.
 */
import { ort } from '../runtime/ort';
import { onnx } from 'onnx-proto';
import { encodeOnnxModel, makeNode, intAttr, valueInfo } from '../model/onnxGraph';
import { createSession, type SessionSettings } from '../runtime/session';
import type { Unembedding } from './unembedding';

export const LOGIT_TOP = 10;

export interface LogitEffect {
  id: number;
  value: number;
}

function graph(k: number): Uint8Array {
  const kTensor = onnx.TensorProto.create({ name: 'k', dataType: 7, dims: [1], int64Data: [k] });
  return encodeOnnxModel({
    irVersion: 8,
    producerName: 'sae-diff',
    opsetImport: [{ domain: '', version: 17 }],
    graph: onnx.GraphProto.create({
      name: 'logit_effects',
      node: [
        makeNode('MatMul', ['D', 'W'], ['L'], 'matmul'),
        makeNode('TopK', ['L', 'k'], ['pv', 'pi'], 'top', [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)]),
        makeNode('TopK', ['L', 'k'], ['sv', 'si'], 'bottom', [intAttr('axis', 1), intAttr('largest', 0), intAttr('sorted', 1)]),
      ],
      initializer: [kTensor],
      input: [valueInfo('D', 1), valueInfo('W', 1)],
      output: [valueInfo('pv', 1), valueInfo('pi', 7), valueInfo('sv', 1), valueInfo('si', 7)],
    }),
  });
}

/** For each row of `directions` ([n, hidden], W_dec rows): the top promoted and suppressed token ids with their values. */
export async function logitEffects(
  directions: Float32Array,
  n: number,
  unembedding: Unembedding,
  settings: SessionSettings,
): Promise<{ promoted: LogitEffect[]; suppressed: LogitEffect[] }[]> {
  if (n === 0) return [];
  const k = Math.min(LOGIT_TOP, unembedding.vocab);
  const session = await createSession(graph(k), settings, 'the logit-effect graph');
  try {
    const out = await session.run({
      D: new ort.Tensor('float32', directions, [n, unembedding.hidden]),
      W: new ort.Tensor('float32', unembedding.data, [unembedding.hidden, unembedding.vocab]),
    });
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
