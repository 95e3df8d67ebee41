import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { hubRepoPath, looksLikeHubModelId, modelTarget } from '../config/modelId';
import { readTextBounded } from '../io/boundedRead';
import { ADAPTER_CONFIG } from './checkpoint/loraAdapter';
import { CHECKPOINT_FILES } from './checkpoint/checkpointFiles';
import { ONNX_CANDIDATES } from './modelFolder';

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

/** The folder holds a model the run can load: an ONNX export, a checkpoint or a LoRA adapter (model/checkpoint). */
export function hasModel(folder: string): boolean {
  return [...ONNX_CANDIDATES, ...CHECKPOINT_FILES, ADAPTER_CONFIG].some((c) => fs.existsSync(path.join(folder, c)));
}

/** The hub model repo a folder inside the cache belongs to (`…/models--org--name/snapshots/<rev>/…`), the inverse of cachedSnapshots' naming. */
export function cachedRepoOf(folder: string): string | undefined {
  const m = /(?:^|[\\/])models--([^\\/]+?)--([^\\/]+)[\\/]snapshots[\\/]/.exec(folder);
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/**
 * The snapshots of a cached hub repo (`models--org--name`, or `datasets--org--name`), the one refs/main names
 * first, then the most recently written. Never touches the network: it only reads `{refs,snapshots}`.
 */
export function cachedSnapshots(
  id: string,
  kind: 'models' | 'datasets',
  env: HubEnv = process.env,
): { folder: string; revision: string }[] {
  const repoDir = path.join(hubCacheDir(env), `${kind}--${id.split('/').join('--')}`);
  const snapshotsDir = path.join(repoDir, 'snapshots');
  let revisions: string[];
  try {
    revisions = fs.readdirSync(snapshotsDir);
  } catch {
    return [];
  }
  const mainRev = readRef(path.join(repoDir, 'refs', 'main'));
  return revisions
    .map((revision) => ({ revision, folder: path.join(snapshotsDir, revision), mtime: safeMtime(path.join(snapshotsDir, revision)) }))
    .sort((a, b) => Number(b.revision === mainRev) - Number(a.revision === mainRev) || b.mtime - a.mtime)
    .map(({ revision, folder }) => ({ revision, folder }));
}

/**
 * The snapshot folder of a hub model id in the local cache that holds a model (an ONNX export or the
 * checkpoint `from_pretrained` downloads), or undefined.
 */
export function resolveHubModelFolder(id: string, env: HubEnv = process.env): string | undefined {
  if (!looksLikeHubModelId(id)) return undefined;
  return cachedSnapshots(id, 'models', env).find((s) => hasModel(s.folder))?.folder;
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

/**
 * The entries of `target`'s folder that its last segment names, a `*` in it standing for any run of characters
 * (`gpt2-small_L5_Hcat_z_*.pt`: a hub repo that holds every layer's SAE file side by side, each named with its own
 * training settings), sorted; [] when the folder cannot be read.
 */
export function pathMatches(target: string): string[] {
  const dir = path.dirname(target);
  const pattern = new RegExp(
    `^${path
      .basename(target)
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => pattern.test(n))
      .sort()
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

/** The one entry `target` names when its last segment has a `*` and exactly one entry matches; else `target` itself. */
function matchingPath(target: string): string {
  if (!path.basename(target).includes('*')) return target;
  const matches = pathMatches(target);
  return matches.length === 1 ? matches[0] : target;
}

/**
 * A path inside a cached hub repo (an SAE folder, config/modelId.ts's hubRepoPath), in the first snapshot
 * (cachedSnapshots' order) that holds it. `hf download org/name --include "sub/*"` puts only that folder there,
 * which is enough.
 */
export function resolveHubRepoPath(id: string, subpath: string, env: HubEnv = process.env): string | undefined {
  return cachedSnapshots(id, 'models', env)
    .map((s) => matchingPath(path.join(s.folder, ...subpath.split('/').filter(Boolean))))
    .find((target) => fs.existsSync(target));
}

/** Where an SAE value points: a folder or file beside the config, or that path inside a cached hub repo. */
export interface ResolvedSaePath {
  folder: string;
  /** The hub repo and path inside it, when the value reads as one (found in the cache or not). */
  hub?: { id: string; subpath: string; found: boolean };
}

/**
 * The one SAE-value resolver of the run and the editor: beside the config, else in the local hub cache; a `*` in the
 * last segment matches one entry there (pathMatches).
 */
export function resolveSaePath(value: string, configDir: string, env?: HubEnv): ResolvedSaePath {
  const folder = matchingPath(path.resolve(configDir, value));
  const repo = fs.existsSync(folder) ? undefined : hubRepoPath(value, configDir);
  if (!repo) return { folder };
  const cached = resolveHubRepoPath(repo.id, repo.subpath, env);
  return { folder: cached ?? folder, hub: { ...repo, found: cached !== undefined } };
}

/** What to do when an SAE value that reads as a hub repo path is not in the cache. */
export function hubSaeHint(hub: { id: string; subpath: string }, env?: HubEnv): string {
  // an attention-output-saes SAE is named by its .pt file, whose {name}_cfg.json comes with it
  const file = hub.subpath.endsWith('.pt');
  const include = file
    ? ` --include "${hub.subpath}" "${hub.subpath.slice(0, -'.pt'.length)}_cfg.json"`
    : hub.subpath
      ? ` --include "${hub.subpath}/*"`
      : '';
  const what = file ? `its file ${hub.subpath} is` : hub.subpath ? `its folder ${hub.subpath} is` : 'it is';
  return `If '${hub.id}' is a Hugging Face repo, ${what} not in the local cache (${hubCacheDir(env)}): download it with hf download ${hub.id}${include} (sae-diff never downloads).`;
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
