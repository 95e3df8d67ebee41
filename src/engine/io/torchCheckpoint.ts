/**
 * torch.save archives (torch >= 1.6's zip format, torch/serialization.py): `{prefix}/data.pkl` describes the
 * saved object, `{prefix}/data/{key}` holds each storage's bytes in place, `{prefix}/byteorder` says their
 * byte order (absent before torch 2.1: little-endian). The object is read weights-only (torchPickle.ts); each
 * tensor is located as a byte range of the file, so the tensor readers read it as they read safetensors,
 * row by row when only some latents are wanted. The legacy format (torch < 1.6, or
 * `_use_new_zipfile_serialization=False`) is refused.
 */
import { SaeDiffError } from '../core/errors';
import { readHeadBounded } from './boundedRead';
import { readRange } from './readAt';
import type { SafetensorsEntry, SafetensorsHeader } from './safetensorsHeader';
import { type TorchTensorRef, unpickleWeightsOnly } from './torchPickle';
import { readZipEntries } from './zipEntries';

const MAX_PICKLE_BYTES = 64 << 20;
const ITEM_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TorchCheckpoint {
  file: string;
  /** The saved object: dicts as Map, tensors as TorchTensorRef. */
  root: unknown;
  /** Where a tensor's elements lie in the file, as a safetensors entry with absolute offsets (dataStart 0). */
  locate(tensor: TorchTensorRef, name: string): SafetensorsEntry;
}

function isTorchTensor(v: unknown): v is TorchTensorRef {
  return typeof v === 'object' && v !== null && (v as TorchTensorRef).kind === 'tensor';
}

export function readTorchCheckpoint(file: string): TorchCheckpoint {
  const head = readHeadBounded(file, 4).bytes;
  if (head.length >= 2 && head[0] === 0x80)
    throw new SaeDiffError("The checkpoint is in torch.save's legacy format (torch < 1.6, or _use_new_zipfile_serialization=False)", {
      location: { file },
      hint: 'Load it with torch.load and save it again with a current torch.save (or save the weights as safetensors).',
    });
  if (head.length < 4 || head.readUInt32LE(0) !== 0x04034b50)
    throw new SaeDiffError('The file is not a torch.save checkpoint (it does not start as a zip archive)', {
      location: { file },
      hint: 'The file is damaged or of another kind; download or save it again.',
    });
  const entries = readZipEntries(file);
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1)
    throw new SaeDiffError(`The archive holds ${pickles.length} top-level data.pkl records; torch.save writes one`, {
      location: { file },
      hint: 'The file is not a torch.save checkpoint; save the weights again with torch.save.',
    });
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && readRange(file, order.offset, order.size).toString('latin1') !== 'little')
    throw new SaeDiffError('The checkpoint was saved on a big-endian machine (its byteorder record says so)', {
      location: { file },
      hint: 'Load and save it again on a little-endian machine (x86, ARM), or save the weights as safetensors.',
    });
  const pkl = entries.get(pickles[0])!;
  if (pkl.size > MAX_PICKLE_BYTES)
    throw new SaeDiffError(`The checkpoint's data.pkl has ${pkl.size} bytes, more than a state dict of tensors needs`, {
      location: { file },
      hint: 'Save only the state dict: torch.save(module.state_dict(), path).',
    });
  const root = unpickleWeightsOnly(readRange(file, pkl.offset, pkl.size), file);

  const locate = (tensor: TorchTensorRef, name: string): SafetensorsEntry => {
    const { storage, shape, stride, storageOffset } = tensor;
    const where = (what: string, hint: string) => new SaeDiffError(`Tensor '${name}' ${what}`, { location: { file }, hint });
    const per = ITEM_BYTES[storage.dtype];
    if (per === undefined) throw where('has a storage type sae-diff does not read', 'Save the weights as float32, float16 or bfloat16.');
    // contiguous, row-major: what torch.save writes for a parameter (a transposed view would be read wrongly)
    let expected = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      if (shape[i] !== 1 && stride[i] !== expected)
        throw where(
          `is a strided view (shape [${shape}], stride [${stride}]), not a contiguous tensor`,
          "Save tensor.contiguous() (or the module's state_dict()), not a view of it.",
        );
      expected *= shape[i];
    }
    const member = entries.get(`${prefix}data/${storage.key}`);
    const bytes = expected * per;
    const start = storageOffset * per;
    if (!member || storageOffset + expected > storage.numel || start + bytes > member.size)
      throw where('lies outside its storage record', 'The file is truncated or damaged; download or save it again.');
    return { dtype: storage.dtype, shape, offsets: [member.offset + start, member.offset + start + bytes] };
  };
  return { file, root, locate };
}

/**
 * A state dict (a dict of name -> tensor) as a safetensors-style index of the file (dataStart 0), for
 * sae/safetensors.ts's readers: the saved object, or its entry `key` (Language-Model-SAEs saves {"sae": state dict}).
 * Entries that are not tensors are left out; `undefined` when there is no such dict.
 */
export function stateDictIndex(ckpt: TorchCheckpoint, key?: string): SafetensorsHeader | undefined {
  const root = key === undefined ? ckpt.root : ckpt.root instanceof Map ? ckpt.root.get(key) : undefined;
  if (!(root instanceof Map)) return undefined;
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [k, v] of root) if (typeof k === 'string' && isTorchTensor(v)) tensors.set(k, ckpt.locate(v, k));
  return { tensors, metadata: {}, dataStart: 0 };
}
