/**
 * Where a model's graph comes from: an ONNX export, or a Hugging Face safetensors checkpoint whose graph is
 * built in memory (model/checkpoint). HookedModel, provenance and the unembedding read both alike.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpointFiles, type CheckpointFiles } from './checkpoint/checkpointFiles';
import { buildDecoderGraph } from './checkpoint/decoderGraph';
import type { DecoderSpec } from './checkpoint/decoderConfig';
import { type ModelProto, readOnnxModel } from './onnxGraph';

export type ModelSource = OnnxSource | CheckpointSource;

export interface OnnxSource {
  format: 'onnx';
  /** The .onnx file (what logs and errors name; external data locations are relative to its folder). */
  file: string;
}

export interface CheckpointSource {
  format: 'safetensors';
  /** model.safetensors or model.safetensors.index.json. */
  file: string;
  configFile: string;
  spec: DecoderSpec;
  checkpoint: CheckpointFiles;
}

export function onnxSource(file: string): OnnxSource {
  return { format: 'onnx', file };
}

export function checkpointSource(main: string, configFile: string, spec: DecoderSpec): CheckpointSource {
  return { format: 'safetensors', file: main, configFile, spec, checkpoint: readCheckpointFiles(main) };
}

/** The whole graph, before hooking. */
export function readModelGraph(source: ModelSource): ModelProto {
  return source.format === 'onnx' ? readOnnxModel(source.file) : buildDecoderGraph(source.spec, source.checkpoint, source.configFile);
}

/** The files whose bytes are the weights: the ONNX file and its external data files, or the checkpoint's files. */
export function weightFiles(source: ModelSource): string[] {
  if (source.format === 'safetensors') {
    const index = source.file === source.checkpoint.shards[0] ? [] : [source.file];
    return [...index, ...source.checkpoint.shards];
  }
  const dir = path.dirname(source.file);
  const base = path.basename(source.file);
  const external = fs
    .readdirSync(dir)
    .filter((f) => f !== base && f.startsWith(base) && /(_data|\.data)$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
  return [source.file, ...external];
}
