/**
 * Where a model's graph comes from: an ONNX export, or a Hugging Face checkpoint (safetensors, or a torch.save
 * pytorch_model.bin) whose graph is built in memory (model/checkpoint). HookedModel, provenance and the unembedding read both alike.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpointFiles, type CheckpointFiles } from './checkpoint/checkpointFiles';
import { allFloat16 } from './checkpoint/checkpointWeights';
import { buildDecoderGraph } from './checkpoint/decoderGraph';
import type { CheckpointSpec } from './checkpoint/decoderConfig';
import { buildGpt2Graph } from './checkpoint/gpt2Graph';
import { buildGptNeoxGraph } from './checkpoint/gptNeoxGraph';
import { buildNemotronHGraph } from './checkpoint/nemotronHGraph';
import { buildPhiGraph } from './checkpoint/phiGraph';
import type { LoraAdapter } from './checkpoint/loraAdapter';
import { placeExternalData } from './externalData';
import { graphOf, type ModelProto, readOnnxModel } from './onnxGraph';

export type ModelSource = OnnxSource | CheckpointSource;

export interface OnnxSource {
  format: 'onnx';
  /** The .onnx file (what logs and errors name; external data locations are relative to its folder). */
  file: string;
}

export interface CheckpointSource {
  format: 'checkpoint';
  /** The checkpoint's file or shard index (checkpointFiles.ts CHECKPOINT_FILES); the adapter's weights for a LoRA fine-tune. */
  file: string;
  configFile: string;
  spec: CheckpointSpec;
  /** The (base) checkpoint. */
  checkpoint: CheckpointFiles;
  /** A LoRA fine-tune: the adapter applied on `checkpoint`. */
  adapter?: LoraAdapter;
  /** What the graph computes in regardless of the provider (tests); else checkpointCompute decides. */
  compute?: 'float32' | 'float16';
}

export function onnxSource(file: string): OnnxSource {
  return { format: 'onnx', file };
}

export function checkpointSource(main: string, configFile: string, spec: CheckpointSpec): CheckpointSource {
  return { format: 'checkpoint', file: main, configFile, spec, checkpoint: readCheckpointFiles(main) };
}

/** A LoRA fine-tune: `base`'s checkpoint with the adapter's branches. */
export function adapterSource(base: CheckpointSource, adapter: LoraAdapter): CheckpointSource {
  return { ...base, file: adapter.file, adapter };
}

/**
 * The whole graph, before hooking, and the folder its external data locations are relative to (undefined when
 * it has none). `onGpu`: a float16 checkpoint then computes in float16, as a float16 export does.
 */
export function readModelGraph(source: ModelSource, onGpu = false): { model: ModelProto; externalDataFolder?: string } {
  if (source.format === 'checkpoint') {
    if (source.spec.family === 'gpt2') return buildGpt2Graph(source.spec, source.checkpoint, source.configFile, source.adapter);
    if (source.spec.family === 'gpt_neox') return buildGptNeoxGraph(source.spec, source.checkpoint, source.configFile, source.adapter);
    if (source.spec.family === 'phi') return buildPhiGraph(source.spec, source.checkpoint, source.configFile, source.adapter);
    if (source.spec.family === 'nemotron_h') return buildNemotronHGraph(source.spec, source.checkpoint, source.configFile, source.adapter);
    const compute = checkpointCompute(source, onGpu);
    return buildDecoderGraph(source.spec, source.checkpoint, source.configFile, { adapter: source.adapter, compute });
  }
  const model = readOnnxModel(source.file);
  return { model, externalDataFolder: placeExternalData(graphOf(model), source.file) };
}

/** What a checkpoint's graph computes in: float16 for a float16 checkpoint (not Gemma, GPT-2, GPT-NeoX or Phi) on a GPU, else float32. */
export function checkpointCompute(source: CheckpointSource, onGpu: boolean): 'float32' | 'float16' {
  // Gemma overflows float16 (transformers warns against it): it computes in float32 everywhere; the GPT-2, GPT-NeoX
  // and Phi graphs compute in float32 only (half weights widened)
  const family = source.spec.family;
  if (family === 'gpt2' || family === 'gpt_neox' || family === 'phi' || family === 'nemotron_h') return 'float32';
  return source.compute ?? (onGpu && allFloat16(source.checkpoint) && !source.spec.gemmaNorms ? 'float16' : 'float32');
}

/** The files whose bytes are the weights: the ONNX file and its external data files, or the checkpoint's (and adapter's). */
export function weightFiles(source: ModelSource): string[] {
  if (source.format === 'checkpoint') {
    const main = source.checkpoint.main;
    const index = main === source.checkpoint.shards[0] ? [] : [main];
    const adapter = source.adapter ? [source.adapter.configFile, source.adapter.file] : [];
    return [...index, ...source.checkpoint.shards, ...adapter];
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
