import { onnx } from 'onnx-proto';
import { ort } from '../runtime/ort';
import type { HookPoint } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { createSession, identityModel, SessionSettings } from '../runtime/session';
import { appendCentred, normalisesWithLayerNorm } from './centring';
import { discoverHooks, valueBiasOf } from './hooks';
import type { AttentionHeads } from './modelFolder';
import { type ModelSource, onnxSource, readModelGraph } from './modelSource';
import { embeddingsOnCpu } from './oversizedWeights';
import { appendFoldedZ } from './valueBiasFolding';
import {
  declaredElemTypes,
  dominantFloatType,
  floatWeightElements,
  encodeOnnxModel,
  graphOf,
  intAttr,
  makeNode,
  ModelProto,
  pruneToOutputs,
  TensorDataType,
  toNumber,
  valueInfo,
} from './onnxGraph';

/** A padded batch of token ids, row-major [batch, seq]. */
export interface TokenBatch {
  batch: number;
  seq: number;
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  mask: Uint8Array;
}

export interface HookOptions {
  targets: number[];
  hookPoint: HookPoint;
  tensorNames: Map<number, string>;
  /** Also expose each target's neighbouring residual positions (for the SAE self-check). */
  probeNeighbours?: boolean;
  /** 'gpu-buffer': the hooked outputs stay on the device for the next session (WebGPU only). */
  outputLocation?: 'gpu-buffer';
  /**
   * Layers whose SAE was trained on TransformerLens's centred stream (center_writing_weights): their activations
   * (and probes) come out minus their mean over the hidden axis, where the graph normalises with LayerNorm (centring.ts).
   */
  centred?: ReadonlySet<number>;
  /**
   * attn_z: layers whose SAE was trained on TransformerLens's hook_z with the value biases folded out
   * (fold_value_biases): where the attention has a value bias, its activations come out minus it (valueBiasFolding.ts).
   */
  foldValueBiases?: ReadonlySet<number>;
  /** The attention's heads (config.json), which say where b_V lies in a fused bias. */
  attentionHeads?: AttentionHeads;
}

/** The residual stream around a target layer: entering it, leaving it, and leaving the next block. */
export type ProbeKind = 'resid_pre' | 'resid_post' | 'next_resid_post';
/**
 * A hooked tensor, float32 [batch, seq, hidden]. `data` is its host copy; while the tensor stays on the
 * device (HookOptions.outputLocation) reading `data` throws, and `hostData` downloads it.
 */
export interface Activations {
  readonly data: Float32Array;
  hidden: number;
  tensor: ort.Tensor;
  onDevice?: boolean;
  /** On the device: a host copy (DeviceDownload). */
  download?: () => Promise<Float32Array>;
}

function activationsOf(t: ort.Tensor, downloader?: DeviceDownload): Activations {
  const hidden = Number(t.dims[t.dims.length - 1]);
  if (t.location === 'cpu' || !downloader) return { data: t.data as Float32Array, hidden, tensor: t };
  return {
    get data(): Float32Array {
      throw new Error('These activations are on the device: read them with hostData()');
    },
    hidden,
    tensor: t,
    onDevice: true,
    download: () => downloader.toHost(t),
  };
}

/** The host copy of a hooked tensor (downloaded when it lives on the device). */
export async function hostData(a: Activations): Promise<Float32Array> {
  return a.download ? a.download() : a.data;
}

/**
 * Brings device tensors to the host. onnxruntime-node cannot: a WebGPU output's download() throws "not
 * implemented" from native code (js/node/src/tensor_helper.cc), which aborts the process ("terminate called
 * after throwing an instance of 'char const*'", seen on an H200). A device tensor can be a session's input,
 * though, and a session's outputs come to the host unless asked otherwise: a one-node Identity session on
 * the same provider does the copy.
 */
export class DeviceDownload {
  private session?: Promise<ort.InferenceSession>;

  constructor(private readonly settings: SessionSettings) {}

  async toHost(t: ort.Tensor): Promise<Float32Array> {
    this.session ??= createSession(identityModel(undefined), this.settings, 'the device-to-host copy');
    const out = await (await this.session).run({ x: t });
    return out.y.data as Float32Array;
  }

  async release(): Promise<void> {
    if (this.session) await (await this.session).release();
  }
}

/** Frees the device buffers of one batch's outputs (no-op for host tensors). */
export function releaseActivations(outputs: Iterable<Activations>): void {
  for (const a of outputs) if (a.onDevice) a.tensor.dispose();
}

const FLOAT = TensorDataType.FLOAT;

/**
 * One model, hooked: the graph is cut after the deepest hooked layer and exposes the residual stream
 * of every target layer as outputs, so one forward pass per batch yields all of them.
 */
export class HookedModel {
  private constructor(
    /** The ONNX file or the checkpoint the graph came from. */
    readonly modelFile: string,
    private readonly session: ort.InferenceSession,
    /** Hooked tensor name per layer, as found in the original graph. */
    readonly hookTensors: Map<number, string>,
    private readonly outputNames: Map<number, string>,
    private readonly inputSpecs: { name: string; elemType: number; dims: (number | string)[] }[],
    readonly blockCount: number | undefined,
    /** Per target layer, the output name of each neighbouring position (probeNeighbours only). */
    readonly probes: Map<number, Map<ProbeKind, string>>,
    /** Embedding tables looked up on the CPU: above the provider's buffer limit (model/oversizedWeights.ts). */
    readonly tablesOnCpu: string[] = [],
    /** Set when the outputs stay on the device (HookOptions.outputLocation): how they come to the host. */
    private readonly downloader?: DeviceDownload,
    /** Whether the graph normalises with LayerNorm (centring.ts), and so the layers whose activations are centred. */
    readonly layerNorm = false,
    readonly centred: ReadonlySet<number> = new Set(),
    /** attn_z layers whose attention has a value bias, and those whose bias was folded out (HookOptions.foldValueBiases). */
    readonly valueBiased: ReadonlySet<number> = new Set(),
    readonly valueBiasesFolded: ReadonlySet<number> = new Set(),
  ) {}

  /** Loads an ONNX file (a path) or any model source: its graph hooked, cut and in a session. */
  static async load(from: string | ModelSource, hooks: HookOptions, settings: SessionSettings): Promise<HookedModel> {
    const source = typeof from === 'string' ? onnxSource(from) : from;
    const onnxPath = source.file;
    const { model, externalDataFolder } = readModelGraph(source, settings.provider !== 'cpu');
    const { tensors, outputNames, blockCount, probes, layerNorm, centred, valueBiased, folded } = hookGraph(model, onnxPath, hooks);
    const graph = graphOf(model);
    const inputSpecs = graph.input.map((i) => ({
      name: i.name!,
      elemType: i.type?.tensorType?.elemType ?? TensorDataType.INT64,
      dims: (i.type?.tensorType?.shape?.dim ?? []).map((d) =>
        d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : '?',
      ),
    }));
    for (const spec of inputSpecs) {
      if (!['input_ids', 'attention_mask', 'position_ids'].includes(spec.name) && !spec.name.startsWith('past_key_values')) {
        throw new SaeDiffError(`The graph needs an input '${spec.name}' that sae-diff does not know how to feed`, {
          location: { file: onnxPath },
          hint: 'Export with inputs input_ids, attention_mask, position_ids and optional past_key_values.*.',
        });
      }
    }
    const counts = floatWeightElements(graph);
    const halfElements = (counts.get(TensorDataType.FLOAT16) ?? 0) + (counts.get(TensorDataType.BFLOAT16) ?? 0);
    // only WebGPU binds each tensor as one buffer; elsewhere the limit (when set) is for the SAE graphs
    const cpuLookups =
      settings.provider === 'webgpu' && settings.maxBufferBytes !== undefined
        ? embeddingsOnCpu(graph, settings.maxBufferBytes, onnxPath)
        : { nodes: [], tables: [] };
    const session = await createSession(encodeOnnxModel(model), settings, onnxPath, {
      externalDataFolder,
      outputLocation: hooks.outputLocation,
      halfWeightBytes: halfElements * 2,
      cpuNodes: cpuLookups.nodes,
    });
    return new HookedModel(
      onnxPath,
      session,
      tensors,
      outputNames,
      inputSpecs,
      blockCount,
      probes,
      cpuLookups.tables,
      hooks.outputLocation === 'gpu-buffer' && settings.provider !== 'cpu' ? new DeviceDownload(settings) : undefined,
      layerNorm,
      centred,
      valueBiased,
      folded,
    );
  }

  /** Runs one batch; returns the hooked activations per layer, float32 [batch, seq, hidden]. */
  async run(b: TokenBatch): Promise<Map<number, Activations>> {
    return (await this.execute(b, false)).layers;
  }

  /**
   * Runs one batch; also returns every tensor it fetched by output name: the probes among them when `probes`
   * (a batch whose neighbouring positions are not fitted leaves them unfetched: on the host each is a copy).
   */
  async runWithProbes(b: TokenBatch, probes = true): Promise<{ layers: Map<number, Activations>; outputs: Map<string, Activations> }> {
    return this.execute(b, probes);
  }

  private async execute(
    b: TokenBatch,
    withProbes: boolean,
  ): Promise<{ layers: Map<number, Activations>; outputs: Map<string, Activations> }> {
    const feeds: Record<string, ort.Tensor> = {};
    const n = b.batch * b.seq;
    for (const spec of this.inputSpecs) {
      if (spec.name === 'input_ids' || spec.name === 'attention_mask' || spec.name === 'position_ids') {
        const values = new Array<number>(n);
        for (let r = 0; r < b.batch; r++) {
          let pos = 0;
          for (let c = 0; c < b.seq; c++) {
            const i = r * b.seq + c;
            values[i] = spec.name === 'input_ids' ? b.ids[i] : spec.name === 'attention_mask' ? b.mask[i] : b.mask[i] ? pos++ : 0;
          }
        }
        feeds[spec.name] = intTensor(spec.elemType, values, [b.batch, b.seq]);
      } else {
        // past_key_values.*: empty past (sequence dim 0) for a plain forward pass
        const dims = spec.dims.map((d, i) => (i === 0 ? b.batch : typeof d === 'number' ? d : 0));
        if (!dims.includes(0)) dims[2] = 0;
        const type = spec.elemType === TensorDataType.FLOAT16 ? 'float16' : 'float32';
        feeds[spec.name] = new ort.Tensor(type, type === 'float16' ? new Uint16Array(0) : new Float32Array(0), dims);
      }
    }
    const wanted = withProbes ? this.session.outputNames : [...new Set(this.outputNames.values())];
    const out = await this.session.run(feeds, fetchedOutputs(this.session.outputNames, wanted, this.downloader !== undefined));
    const outputs = new Map<string, Activations>();
    for (const [name, t] of Object.entries(out)) {
      if (wanted.includes(name)) outputs.set(name, activationsOf(t, this.downloader));
      else t.dispose();
    }
    const layers = new Map<number, Activations>();
    for (const [layer, name] of this.outputNames) layers.set(layer, outputs.get(name)!);
    return { layers, outputs };
  }

  async release(): Promise<void> {
    await this.downloader?.release();
    await this.session.release();
  }
}

/**
 * The outputs a run asks ONNX Runtime for. On the host: only those wanted (the hooked layers, plus the probes
 * on the self-check's batch), so ONNX Runtime neither keeps nor copies the rest. With device outputs: all of
 * them, every run. onnxruntime-node binds device outputs through one IO binding per session and binds only
 * the outputs a run fetches; an output fetched before and not now stays bound to the buffer of that earlier
 * run, and ONNX Runtime then writes into it as a pre-allocated output: a later batch of another size fails
 * ("has shape {128,256,1024} but the computed output shape for this run is {28,256,1024}", seen on an H200).
 * Fetching the same outputs every run rebinds each of them; the unwanted ones are disposed at once.
 */
export function fetchedOutputs(all: readonly string[], wanted: readonly string[], deviceOutputs: boolean): readonly string[] {
  return deviceOutputs ? all : wanted;
}

function intTensor(elemType: number, values: number[], dims: number[]): ort.Tensor {
  if (elemType === TensorDataType.INT32) return new ort.Tensor('int32', Int32Array.from(values), dims);
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );
}

/**
 * Graph surgery: exposes the hooked tensor of every target layer as a float32 output (centred where
 * HookOptions.centred asks and the graph normalises with LayerNorm; at attn_z, its value bias folded out where
 * HookOptions.foldValueBiases asks and the attention has one) and drops every node those outputs do not need (the
 * final norm, lm_head and later blocks), in place.
 */
export function hookGraph(
  model: ModelProto,
  onnxPath: string,
  hooks: HookOptions,
): {
  tensors: Map<number, string>;
  outputNames: Map<number, string>;
  blockCount?: number;
  probes: Map<number, Map<ProbeKind, string>>;
  layerNorm: boolean;
  centred: Set<number>;
  valueBiased: Set<number>;
  folded: Set<number>;
} {
  const graph = graphOf(model);
  const layerNorm = normalisesWithLayerNorm(model);
  // center_writing_weights changes what writes to the stream (W_O among them), not W_V: attn_z is never centred
  const centred = new Set(layerNorm && hooks.hookPoint !== 'attn_z' ? (hooks.centred ?? []) : []);
  const found = discoverHooks(model, onnxPath, hooks.targets, hooks.hookPoint, hooks.tensorNames);
  const types = declaredElemTypes(graph);
  // activations whose type the graph does not declare have the type of the bulk of the weights
  const weightsType = dominantFloatType(graph);
  const outputs = new Map<string, ReturnType<typeof valueInfo>>();
  const valueBiased = new Set<number>();
  const folded = new Set<number>();
  /**
   * Layer `layer`'s attn_z as [batch, seq, heads x head_dim] (a dynamo export of GPT-2 hands it on unmerged, [batch,
   * seq, heads, head_dim]: the merge is inside c_proj's scope there), minus its value bias where the SAE asks.
   */
  const attentionZ = (z: string, tensor: string, layer: number): string => {
    const shape = `sae_diff.z_shape.${tensor}`;
    graph.initializer.push(onnx.TensorProto.create({ name: shape, dataType: TensorDataType.INT64, dims: [3], int64Data: [0, 0, -1] }));
    let name = `sae_diff.z.${tensor}`;
    graph.node.push(makeNode('Reshape', [z, shape], [name], `sae_diff/Reshape_z_${tensor}`));
    const bias = valueBiasOf(model, layer);
    if (bias) valueBiased.add(layer);
    if (bias && hooks.foldValueBiases?.has(layer)) {
      const foldedName = `sae_diff.folded.${tensor}`;
      appendFoldedZ(model, name, bias, hooks.attentionHeads, foldedName, onnxPath, layer);
      folded.add(layer);
      name = foldedName;
    }
    return name;
  };
  /**
   * Exposes a tensor as a float32 output (layers may share one: resid_pre of l+1 = resid_post of l), centred or not,
   * or as layer `zOf`'s attn_z.
   */
  const expose = (tensor: string, centre: boolean, zOf?: number): string => {
    let name = tensor;
    if ((types.get(tensor) ?? weightsType) !== FLOAT) {
      // float16 / bfloat16 exports: the metrics are defined in float32
      name = `sae_diff.f32.${tensor}`;
      if (!graph.node.some((n) => (n.output ?? []).includes(name)))
        graph.node.push(makeNode('Cast', [tensor], [name], `sae_diff/Cast_${tensor}`, [intAttr('to', FLOAT)]));
    }
    if (centre) {
      const centredName = `sae_diff.centred.${tensor}`;
      if (!outputs.has(centredName)) appendCentred(model, name, centredName);
      name = centredName;
    }
    if (zOf !== undefined) name = attentionZ(name, tensor, zOf);
    outputs.set(name, valueInfo(name, FLOAT));
    return name;
  };
  const outputNames = new Map<number, string>();
  for (const [layer, tensor] of found.tensors)
    outputNames.set(layer, expose(tensor, centred.has(layer), hooks.hookPoint === 'attn_z' ? layer : undefined));
  const probes = new Map<number, Map<ProbeKind, string>>();
  // the neighbouring positions are the residual stream's: an attn_z SAE does not live there
  if (hooks.probeNeighbours && found.blockCount !== undefined && hooks.hookPoint !== 'attn_z') {
    const count = found.blockCount;
    const find = (layer: number, point: HookPoint) => discoverHooks(model, onnxPath, [layer], point, new Map()).tensors.get(layer)!;
    for (const layer of hooks.targets) {
      const m = new Map<ProbeKind, string>([
        ['resid_pre', expose(find(layer, 'resid_pre'), centred.has(layer))],
        ['resid_post', expose(find(layer, 'resid_post'), centred.has(layer))],
      ]);
      if (layer + 1 < count) m.set('next_resid_post', expose(find(layer + 1, 'resid_post'), centred.has(layer)));
      probes.set(layer, m);
    }
  }
  pruneToOutputs(model, [...outputs.values()]);
  return { tensors: found.tensors, outputNames, blockCount: found.blockCount, probes, layerNorm, centred, valueBiased, folded };
}
