import * as fs from 'fs';
import * as path from 'path';
import type { ResolvedConfig } from '../config/types';
import type { PromptRecord } from '../data/promptRecords';
import { hashFiles, hashText } from '../io/contentHash';
import type { ModelFiles } from '../model/modelFolder';
import { weightFiles } from '../model/modelSource';
import type { Provenance } from '../../shared/reportTypes';

/** The files whose bytes decide a model's activations: its weights (ONNX graph and external data, or checkpoint), config and tokenizer. */
function modelFileList(m: ModelFiles): string[] {
  return [...weightFiles(m.source), m.configPath, m.tokenizerJsonPath];
}

function folderFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile());
}

/** Path and sha256 of every input of a shard, recorded in its partial report for `merge` to compare. */
export async function provenanceOf(
  config: ResolvedConfig,
  records: PromptRecord[],
  models: { role: 'base' | 'sft' | 'reference'; files: ModelFiles }[],
  signal?: AbortSignal,
): Promise<Provenance> {
  const saes: Provenance['saes'] = {};
  for (const [layer, folder] of config.sae.paths) {
    saes[String(layer)] = {
      path: folder,
      sha256: await hashFiles(fs.statSync(folder).isDirectory() ? folderFiles(folder) : [folder], signal),
    };
  }
  const out: Provenance['models'] = [];
  for (const m of models)
    out.push({ role: m.role, name: m.files.spec.name, path: m.files.spec.path, sha256: await hashFiles(modelFileList(m.files), signal) });
  return { dataset: { path: config.dataset.hubId ?? config.dataset.path, sha256: hashText(JSON.stringify(records)) }, models: out, saes };
}
