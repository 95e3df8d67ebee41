/**
 * A Hugging Face checkpoint's weights as `save_pretrained` writes them: one `model.safetensors`, or shards
 * named by `model.safetensors.index.json` (its `weight_map`: tensor name -> shard file); or, as transformers < 5
 * wrote them with safe_serialization=False (the default before 4.35), `pytorch_model.bin` or shards named by
 * `pytorch_model.bin.index.json`: torch.save archives of the state dict, read weights-only as transformers loads
 * them (`torch.load(weights_only=True)`, io/torchCheckpoint.ts). Only headers (and a .bin's pickled record) are read
 * here; the graph built from them reads the tensors in place (model/checkpoint/decoderGraph.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../../core/errors';
import { READ_CAPS, readJsonBounded } from '../../io/boundedRead';
import { readSafetensorsHeader, type SafetensorsHeader } from '../../io/safetensorsHeader';
import { readTorchCheckpoint, stateDictIndex } from '../../io/torchCheckpoint';

/**
 * A folder's checkpoint files in the order from_pretrained takes them (transformers 4.57 modeling_utils
 * `_get_resolved_checkpoint_files`: safetensors first, single file before index; transformers 5.18 alike).
 */
export const CHECKPOINT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];

/** One tensor of the checkpoint: its shard, dtype, shape and where its bytes are in that file. */
export interface CheckpointTensor {
  file: string;
  dtype: string;
  shape: number[];
  /** Byte offset in `file` and byte count. */
  offset: number;
  length: number;
}

export interface CheckpointFiles {
  /** model.safetensors or pytorch_model.bin, or the index file of a sharded checkpoint (what messages name). */
  main: string;
  /** Every weight file, in name order. */
  shards: string[];
  tensors: Map<string, CheckpointTensor>;
}

/** The checkpoint file a folder holds (CHECKPOINT_FILES' order), or undefined. */
export function checkpointMainFile(folder: string): string | undefined {
  return CHECKPOINT_FILES.map((f) => path.join(folder, f)).find((f) => fs.existsSync(f));
}

/** A weight file's tensors as a safetensors-style index: a safetensors header, or a torch.save state dict's. */
function weightFileIndex(file: string): SafetensorsHeader {
  if (!file.endsWith('.bin')) return readSafetensorsHeader(file);
  const index = stateDictIndex(readTorchCheckpoint(file));
  if (!index)
    throw new SaeDiffError('The file holds no state dict (a dict of tensor names to tensors)', {
      location: { file },
      hint: 'Load the model with from_pretrained and save it again with save_pretrained (safetensors).',
    });
  return index;
}

/** Every tensor of one weight file, located in it. */
function tensorsOf(file: string): Map<string, CheckpointTensor> {
  const header = weightFileIndex(file);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, e] of header.tensors)
    tensors.set(name, {
      file,
      dtype: e.dtype,
      shape: e.shape,
      offset: header.dataStart + e.offsets[0],
      length: e.offsets[1] - e.offsets[0],
    });
  return tensors;
}

/** Reads where a checkpoint's tensors are (`main`: a .safetensors or .bin file, or a shard index). */
export function readCheckpointFiles(main: string): CheckpointFiles {
  const folder = path.dirname(main);
  if (main.endsWith('.safetensors') || main.endsWith('.bin')) return { main, shards: [main], tensors: tensorsOf(main) };
  const indexName = path.basename(main);
  const tensors = new Map<string, CheckpointTensor>();
  const index = readJsonBounded(main, READ_CAPS.config) as { weight_map?: unknown };
  const map = index?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) {
    throw new SaeDiffError(`${indexName} has no weight_map object`, {
      location: { file: main },
      hint: 'Save the model again with save_pretrained, which writes the index beside its shards.',
    });
  }
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || path.isAbsolute(shard) || path.normalize(shard).startsWith('..')) {
      throw new SaeDiffError(`weight_map gives '${name}' the file ${JSON.stringify(shard)}, not a file beside the index`, {
        location: { file: main, key: `weight_map.${name}` },
        hint: 'Save the model again with save_pretrained.',
      });
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  const shards: string[] = [];
  for (const [shard, names] of [...byShard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file = path.join(folder, shard);
    if (!fs.existsSync(file)) {
      throw new SaeDiffError(`The shard ${shard} that ${indexName} names is missing`, {
        location: { file: main },
        hint: `Download or copy every shard of the checkpoint (${indexName.startsWith('pytorch_model') ? 'pytorch_model-*.bin' : 'model-*.safetensors'}).`,
      });
    }
    const inShard = tensorsOf(file);
    for (const name of names) {
      const t = inShard.get(name);
      if (!t) {
        throw new SaeDiffError(`${indexName} puts '${name}' in ${shard}, which does not hold it`, {
          location: { file: main, key: `weight_map.${name}` },
          hint: 'The index and its shards are from different saves: download the checkpoint again.',
        });
      }
      tensors.set(name, t);
    }
    shards.push(file);
  }
  return { main, shards, tensors };
}
