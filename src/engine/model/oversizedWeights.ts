/**
 * Model weights above the largest tensor a provider can hold (runtime/bufferLimit.ts: WebGPU binds each
 * tensor as one buffer). An embedding table is only ever gathered from: its Gather can run on the CPU
 * (onnxruntime-node's WebGPU option forceCpuNodeNames), so that only the gathered rows, [batch, seq, hidden],
 * travel to the device. A vocabulary of 128k tokens x 4096 in float16 is 1 GiB. Any other weight that large
 * would have to be split inside the model's own graph, which the engine does not do.
 */
import { onnx } from 'onnx-proto';
import { limitMiB } from '../runtime/bufferLimit';
import { SaeDiffError } from '../core/errors';
import { TensorDataType, toNumber } from './onnxGraph';

const BYTES: Partial<Record<number, number>> = {
  [TensorDataType.FLOAT]: 4,
  [TensorDataType.FLOAT16]: 2,
  [TensorDataType.BFLOAT16]: 2,
  [TensorDataType.DOUBLE]: 8,
  [TensorDataType.INT64]: 8,
  [TensorDataType.INT32]: 4,
  [TensorDataType.INT16]: 2,
  [TensorDataType.UINT16]: 2,
  [TensorDataType.INT8]: 1,
  [TensorDataType.UINT8]: 1,
  [TensorDataType.BOOL]: 1,
};

/** A tensor's bytes from its shape and element type (external or inline alike). */
export function tensorBytes(t: onnx.ITensorProto): number {
  const elements = (t.dims ?? []).reduce<number>((n, d) => n * toNumber(d), 1);
  return elements * (BYTES[t.dataType ?? 0] ?? 4);
}

/**
 * The Gather nodes to run on the CPU because their table is above `maxBytes`, named (a node without a name
 * gets one: the provider option matches names). Throws for a weight above the limit that something else
 * reads, naming it and what to do.
 */
export function embeddingsOnCpu(graph: onnx.IGraphProto, maxBytes: number, modelFile: string): { nodes: string[]; tables: string[] } {
  const large = new Map((graph.initializer ?? []).filter((t) => tensorBytes(t) > maxBytes).map((t) => [t.name!, t]));
  const out = { nodes: [] as string[], tables: [] as string[] };
  if (large.size === 0) return out;
  const nodes = graph.node ?? [];
  for (const [name, t] of large) {
    const readers = nodes.filter((n) => (n.input ?? []).includes(name));
    if (readers.length === 0) continue;
    const notGather = readers.filter((n) => n.opType !== 'Gather' || n.input![0] !== name);
    if (notGather.length > 0) {
      throw new SaeDiffError(
        `The model weight '${name}' (${limitMiB(tensorBytes(t))} MiB, read by ${notGather[0].opType} '${notGather[0].name ?? ''}') is larger than the ${limitMiB(maxBytes)} MiB a tensor may take on this provider`,
        {
          location: { file: modelFile },
          hint: 'Run on cuda or cpu (--provider), or, if your GPU allows larger buffers, raise SAE_DIFF_MAX_BUFFER_MB.',
        },
      );
    }
    readers.forEach((n, i) => {
      n.name ||= `sae_diff/embedding_gather_${name}_${i}`;
      out.nodes.push(n.name);
    });
    out.tables.push(`${name} (${limitMiB(tensorBytes(t))} MiB)`);
  }
  return out;
}
