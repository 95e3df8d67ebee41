/**
 * Hugging Face checkpoints built from the fixtures, for the safetensors model path (model/checkpoint):
 * folders that hold a checkpoint and no ONNX file, and a checkpoint recovered from the dynamo export.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { checkpointSpec } from '../../src/engine/model/checkpoint/decoderConfig';
import { placeExternalData, readExternalBytes } from '../../src/engine/model/externalData';
import { checkpointSource, type CheckpointSource } from '../../src/engine/model/modelSource';
import { deepestModuleScope } from '../../src/engine/model/nodeMetadata';
import { graphOf, nodeMetadata, readOnnxModel } from '../../src/engine/model/onnxGraph';
import { toHalfArray } from '../../bench/workload/rng';
import { readSafetensors } from '../../src/engine/sae/safetensors';
import { writeRawSafetensors, writeSafetensors, type RawTensors } from './safetensors';

/** Copies of a model folder's config, tokenizer and `extra` files, without its ONNX files (links where possible). */
export function checkpointFolder(from: string, to: string, extra: string[] = ['model.safetensors']): string {
  fs.rmSync(to, { recursive: true, force: true });
  fs.mkdirSync(to, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', ...extra]) {
    if (fs.existsSync(path.join(from, f))) fs.copyFileSync(path.join(from, f), path.join(to, f));
  }
  return to;
}

/** An initializer's float32 values (inline or external). */
function initializerValues(t: onnx.ITensorProto, file: string): Float32Array {
  const raw =
    t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL
      ? readExternalBytes(t, placeExternalData({ initializer: [t] }, file)!)
      : (t.rawData ?? new Uint8Array(0));
  return new Float32Array(new Uint8Array(raw).buffer);
}

/**
 * The Hugging Face tensors of a dynamo-exported decoder, from its graph: each initializer a node of module
 * `scope` reads (node metadata_props) is that module's parameter. The exporter stores Linear weights transposed
 * ([in, out], read by MatMul) and shares initializers with equal values (all-ones norms, zero biases), so
 * each is looked up by the module that reads it, not by its name.
 */
export function checkpointFromDynamo(onnxFile: string, safetensorsFile: string): void {
  const graph = graphOf(readOnnxModel(onnxFile));
  const inits = new Map(graph.initializer.map((t) => [t.name!, t]));
  const tensors: RawTensors = {};
  const put = (name: string, t: onnx.ITensorProto, transpose: boolean) => {
    let values = initializerValues(t, onnxFile);
    let shape = (t.dims ?? []).map(Number);
    if (transpose) {
      const [rows, cols] = shape;
      const out = new Float32Array(values.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
      values = out;
      shape = [cols, rows];
    }
    tensors[name] = { dtype: 'F32', shape, bytes: new Uint8Array(values.buffer) };
  };
  for (const node of graph.node) {
    const scope = deepestModuleScope(nodeMetadata(node));
    if (!scope) continue;
    const input = (i: number) => inits.get(node.input?.[i] ?? '');
    if (node.opType === 'MatMul' && /_proj$/.test(scope) && input(1)) put(`${scope}.weight`, input(1)!, true);
    else if (node.opType === 'Add' && /_proj$/.test(scope) && input(1)) put(`${scope}.bias`, input(1)!, false);
    else if (node.opType === 'Mul' && /(layernorm|norm)$/.test(scope) && input(0)) put(`${scope}.weight`, input(0)!, false);
    else if (node.opType === 'Gather' && /embed_tokens$/.test(scope) && input(0)) put(`${scope}.weight`, input(0)!, false);
  }
  writeRawSafetensors(safetensorsFile, tensors);
}

/** A LoRA adapter for a checkpoint: random A [r, in] and B [out, r] per module, and PEFT's adapter_config.json. */
export interface LoraSpec {
  modules: string[];
  r: number;
  alpha: number;
  rslora?: boolean;
  /** adapter_config.json keys to add or override. */
  config?: Record<string, unknown>;
  seed?: number;
}

/** Deterministic values in [-scale, scale). */
function noise(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/**
 * Writes a PEFT LoRA adapter folder for `weights` (name -> [out, in] float32) and returns the merged weights
 * W + scaling · B A (computed in float64), the oracle an unmerged adapter must reproduce.
 */
export function writeLoraAdapter(
  folder: string,
  weights: Map<string, { shape: number[]; data: Float32Array }>,
  spec: LoraSpec,
): Map<string, { shape: number[]; data: Float32Array }> {
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(folder, { recursive: true });
  const scaling = Math.fround(spec.rslora ? spec.alpha / Math.sqrt(spec.r) : spec.alpha / spec.r);
  const tensors: RawTensors = {};
  const merged = new Map(weights);
  spec.modules.forEach((module, i) => {
    const w = weights.get(`${module}.weight`)!;
    const [out, inDim] = w.shape;
    const a = noise(spec.r * inDim, (spec.seed ?? 7) + 2 * i, 0.2);
    const b = noise(out * spec.r, (spec.seed ?? 7) + 2 * i + 1, 0.2);
    tensors[`base_model.model.${module}.lora_A.weight`] = { dtype: 'F32', shape: [spec.r, inDim], bytes: new Uint8Array(a.buffer) };
    tensors[`base_model.model.${module}.lora_B.weight`] = { dtype: 'F32', shape: [out, spec.r], bytes: new Uint8Array(b.buffer) };
    const m = new Float32Array(w.data.length);
    for (let o = 0; o < out; o++)
      for (let c = 0; c < inDim; c++) {
        let sum = 0;
        for (let k = 0; k < spec.r; k++) sum += b[o * spec.r + k] * a[k * inDim + c];
        m[o * inDim + c] = w.data[o * inDim + c] + scaling * sum;
      }
    merged.set(`${module}.weight`, { shape: w.shape, data: m });
  });
  writeRawSafetensors(path.join(folder, 'adapter_model.safetensors'), tensors);
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: 'tiny-llama/base',
    r: spec.r,
    lora_alpha: spec.alpha,
    lora_dropout: 0.05,
    use_rslora: spec.rslora ?? false,
    use_dora: false,
    bias: 'none',
    fan_in_fan_out: false,
    target_modules: [...new Set(spec.modules.map((m) => m.split('.').pop()))],
    rank_pattern: {},
    alpha_pattern: {},
    modules_to_save: null,
    ...spec.config,
  };
  fs.writeFileSync(path.join(folder, 'adapter_config.json'), JSON.stringify(config, null, 2));
  return merged;
}

/** Writes float32 tensors as a checkpoint's model.safetensors. */
export function writeCheckpointWeights(file: string, weights: Map<string, { shape: number[]; data: Float32Array }>): void {
  writeSafetensors(file, Object.fromEntries(weights));
}

/** A copy of a checkpoint folder with every weight stored as float16 (round to nearest even). */
export function float16Checkpoint(from: string, to: string): string {
  const folder = checkpointFolder(from, to, []);
  const tensors: RawTensors = {};
  for (const [name, t] of readSafetensors(path.join(from, 'model.safetensors'))) {
    const half = toHalfArray(t.data);
    tensors[name] = { dtype: 'F16', shape: t.shape, bytes: new Uint8Array(half.buffer, half.byteOffset, half.byteLength) };
  }
  writeRawSafetensors(path.join(folder, 'model.safetensors'), tensors);
  return folder;
}

/** A folder's model.safetensors as a checkpoint source, its graph built from the folder's config.json. */
export function checkpointOf(folder: string): CheckpointSource {
  const configFile = path.join(folder, 'config.json');
  return checkpointSource(
    path.join(folder, 'model.safetensors'),
    configFile,
    checkpointSpec(JSON.parse(fs.readFileSync(configFile, 'utf8')), configFile),
  );
}
