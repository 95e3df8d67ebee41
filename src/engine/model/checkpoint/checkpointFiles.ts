/**
 * A Hugging Face checkpoint's weights as `save_pretrained` writes them: one `model.safetensors`, or shards
 * named by `model.safetensors.index.json` (its `weight_map`: tensor name -> shard file). Only headers are
 * read here; the graph built from them reads the tensors in place (model/checkpoint/decoderGraph.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../../core/errors';
import { READ_CAPS, readJsonBounded } from '../../io/boundedRead';
import { readSafetensorsHeader, type SafetensorsEntry } from '../../io/safetensorsHeader';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

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
  /** model.safetensors, or the index file of a sharded checkpoint (what messages name). */
  main: string;
  /** Every safetensors file, in name order. */
  shards: string[];
  tensors: Map<string, CheckpointTensor>;
}

/** The checkpoint file a folder holds (single file first), or undefined. */
export function checkpointMainFile(folder: string): string | undefined {
  return [SINGLE_FILE, INDEX_FILE].map((f) => path.join(folder, f)).find((f) => fs.existsSync(f));
}

function entryOf(file: string, e: SafetensorsEntry, dataStart: number): CheckpointTensor {
  return { file, dtype: e.dtype, shape: e.shape, offset: dataStart + e.offsets[0], length: e.offsets[1] - e.offsets[0] };
}

/** Reads the headers of a checkpoint's safetensors files (`main`: a .safetensors file, or a shard index). */
export function readCheckpointFiles(main: string): CheckpointFiles {
  const folder = path.dirname(main);
  const tensors = new Map<string, CheckpointTensor>();
  if (main.endsWith('.safetensors')) {
    const header = readSafetensorsHeader(main);
    for (const [name, e] of header.tensors) tensors.set(name, entryOf(main, e, header.dataStart));
    return { main, shards: [main], tensors };
  }
  const index = readJsonBounded(main, READ_CAPS.config) as { weight_map?: unknown };
  const map = index?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) {
    throw new SaeDiffError(`${INDEX_FILE} has no weight_map object`, {
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
      throw new SaeDiffError(`The shard ${shard} that ${INDEX_FILE} names is missing`, {
        location: { file: main },
        hint: 'Download or copy every model-*.safetensors file of the checkpoint.',
      });
    }
    const header = readSafetensorsHeader(file);
    for (const name of names) {
      const e = header.tensors.get(name);
      if (!e) {
        throw new SaeDiffError(`${INDEX_FILE} puts '${name}' in ${shard}, which does not hold it`, {
          location: { file: main, key: `weight_map.${name}` },
          hint: 'The index and its shards are from different saves: download the checkpoint again.',
        });
      }
      tensors.set(name, entryOf(file, e, header.dataStart));
    }
    shards.push(file);
  }
  return { main, shards, tensors };
}
