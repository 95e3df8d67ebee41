/**
 * Where ONNX Runtime reads a model's external data from. ONNX Runtime refuses a location whose resolved
 * path (symlinks followed) leaves the folder it is given (session.model_external_initializers_file_folder_path;
 * "External data path escapes model directory"), and the Hugging Face hub cache keeps every file of a
 * snapshot as a symlink into ../../blobs. So each location is checked here against the model's folder as
 * written (relative, no '..': a model names only files beside it, the rule ONNX Runtime means to enforce),
 * then resolved, and ONNX Runtime is given the deepest folder that holds every resolved file, with each
 * location rewritten relative to it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../core/errors';
import { readRange } from '../io/readAt';

function entry(t: onnx.ITensorProto, key: string): string | undefined {
  return (t.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
}

function isExternal(t: onnx.ITensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** The resolved file of a location written relative to the model's folder, refusing one that leaves it. */
function resolveLocation(location: string, tensor: string, modelFile: string): string {
  if (!location) {
    throw new SaeDiffError(`'${tensor}' is marked as external data but names no file (no 'location' entry)`, {
      location: { file: modelFile },
      hint: 'The export is damaged: export the model again.',
    });
  }
  const normal = path.normalize(location);
  if (path.isAbsolute(location) || normal === '..' || normal.startsWith(`..${path.sep}`)) {
    throw new SaeDiffError(`The weights of '${tensor}' are in '${location}', outside the model's folder`, {
      location: { file: modelFile },
      hint: 'ONNX external data must sit beside the .onnx file; re-export it with onnx.save_model(..., save_as_external_data=True).',
    });
  }
  try {
    return fs.realpathSync(path.join(path.dirname(modelFile), location));
  } catch {
    throw new SaeDiffError(`The weights of '${tensor}' are in '${location}', which is missing beside the model`, {
      location: { file: modelFile },
      hint: 'Copy or download the external data file(s) too: from the Hub, the whole onnx/ folder; in a git clone, `git lfs pull`.',
    });
  }
}

/** The deepest folder that contains every one of `files` (`modelFile` names the model in the error). */
export function commonFolder(files: string[], modelFile: string): string {
  const split = (f: string) => path.dirname(f).split(path.sep);
  let common = split(files[0]);
  for (const f of files.slice(1)) {
    const parts = split(f);
    let n = 0;
    while (n < common.length && n < parts.length && common[n] === parts[n]) n++;
    common = common.slice(0, n);
  }
  if (common.length === 0) {
    throw new SaeDiffError('The model and its external data files are on different drives', {
      location: { file: modelFile },
      hint: 'Keep the .onnx file and its data files in one folder.',
    });
  }
  // a lone first segment is the root: '' on POSIX, the drive ('C:') on Windows
  return common.length === 1 ? common[0] + path.sep : common.join(path.sep);
}

/**
 * Rewrites the locations of `graph`'s external initialisers (as written in `modelFile`) relative to one folder
 * ONNX Runtime accepts, and returns that folder; undefined when the graph has no external data.
 */
export function placeExternalData(graph: onnx.IGraphProto, modelFile: string): string | undefined {
  const external = (graph.initializer ?? []).filter(isExternal);
  if (external.length === 0) return undefined;
  const resolved = new Map<string, string>();
  for (const t of external) {
    const location = entry(t, 'location') ?? '';
    if (!resolved.has(location)) resolved.set(location, resolveLocation(location, t.name ?? '?', modelFile));
  }
  const folder = commonFolder([...new Set(resolved.values())], modelFile);
  for (const t of external) {
    const location = path.relative(folder, resolved.get(entry(t, 'location') ?? '')!);
    t.externalData = (t.externalData ?? []).map((e) => (e.key === 'location' ? { key: 'location', value: location } : e));
  }
  return folder;
}

/** The bytes of an external initialiser placed by placeExternalData in `folder`. */
export function readExternalBytes(t: onnx.ITensorProto, folder: string): Buffer {
  const file = path.join(folder, entry(t, 'location') ?? '');
  const offset = Number(entry(t, 'offset') ?? 0);
  const length = entry(t, 'length') !== undefined ? Number(entry(t, 'length')) : fs.statSync(file).size - offset;
  return readRange(file, offset, length);
}
