/**
 * Hugging Face checkpoints built from the fixtures, for the safetensors model path (model/checkpoint):
 * folders that hold a checkpoint and no ONNX file, and a checkpoint recovered from the dynamo export.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { placeExternalData, readExternalBytes } from '../../src/engine/model/externalData';
import { deepestModuleScope } from '../../src/engine/model/nodeMetadata';
import { graphOf, nodeMetadata, readOnnxModel } from '../../src/engine/model/onnxGraph';
import { writeRawSafetensors, type RawTensors } from './safetensors';

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
