import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { looksLikeHubModelId, modelTarget } from '../config/modelId';
import { readTextBounded } from '../io/boundedRead';
import { ADAPTER_CONFIG } from './checkpoint/loraAdapter';
import { CHECKPOINT_CANDIDATES, ONNX_CANDIDATES } from './modelFolder';

export { looksLikeHubModelId };

/** Environment variables the resolver reads (defaults to process.env). */
export type HubEnv = Partial<Record<'HF_HUB_CACHE' | 'HUGGINGFACE_HUB_CACHE' | 'HF_HOME' | 'XDG_CACHE_HOME' | 'HOME', string>>;

/** The local Hugging Face hub cache folder, following huggingface_hub's precedence. */
export function hubCacheDir(env: HubEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  if (env.HF_HOME) return path.join(env.HF_HOME, 'hub');
  const cacheRoot = env.XDG_CACHE_HOME ?? path.join(env.HOME ?? os.homedir(), '.cache');
  return path.join(cacheRoot, 'huggingface', 'hub');
}

/** The folder holds a model the run can load: an ONNX export, a safetensors checkpoint or a LoRA adapter (model/checkpoint). */
export function hasModel(folder: string): boolean {
  return [...ONNX_CANDIDATES, ...CHECKPOINT_CANDIDATES, ADAPTER_CONFIG].some((c) => fs.existsSync(path.join(folder, c)));
}

/**
 * The snapshot folder of a hub model id in the local cache that holds a model (an ONNX export or the
 * safetensors `from_pretrained` downloads), or undefined.
 * Never touches the network: it only reads `models--org--name/{refs,snapshots}`.
 * Prefers the revision `refs/main` points at, then the most recently written snapshot.
 */
export function resolveHubModelFolder(id: string, env: HubEnv = process.env): string | undefined {
  if (!looksLikeHubModelId(id)) return undefined;
  const repoDir = path.join(hubCacheDir(env), `models--${id.split('/').join('--')}`);
  const snapshotsDir = path.join(repoDir, 'snapshots');
  let revisions: string[];
  try {
    revisions = fs.readdirSync(snapshotsDir);
  } catch {
    return undefined;
  }
  const mainRev = readRef(path.join(repoDir, 'refs', 'main'));
  const byRecency = revisions
    .map((rev) => ({ rev, mtime: safeMtime(path.join(snapshotsDir, rev)) }))
    .sort((a, b) => Number(b.rev === mainRev) - Number(a.rev === mainRev) || b.mtime - a.mtime);
  for (const { rev } of byRecency) {
    const folder = path.join(snapshotsDir, rev);
    if (hasModel(folder)) return folder;
  }
  return undefined;
}

/** Where a model reference points: a folder (absolute), or a hub id looked up in the local cache. */
export interface ResolvedModelPath {
  folder: string;
  hubId?: string;
  fromHubCache: boolean;
  hubCacheDir?: string;
}

/** The one model-value resolver of the editor: config/modelId.ts's rule, then the local cache. */
export function resolveModelPath(value: string, configDir: string, env?: HubEnv): ResolvedModelPath {
  const { folder, hubId } = modelTarget(value, configDir);
  if (!hubId) return { folder, fromHubCache: false };
  const hub = resolveHubModelFolder(hubId, env);
  if (hub) return { folder: hub, hubId, fromHubCache: true };
  return { folder, hubId, fromHubCache: false, hubCacheDir: hubCacheDir(env) };
}

function readRef(file: string): string | undefined {
  try {
    return readTextBounded(file, 4096).trim(); // a commit hash: bounded, so a link to a device cannot hang validation
  } catch {
    return undefined;
  }
}

function safeMtime(p: string): number {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}
