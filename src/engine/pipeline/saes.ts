import * as fs from 'fs';
import * as path from 'path';
import { hubRepoPath } from '../config/modelId';
import type { ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { hubSaeHint } from '../model/hfCache';
import { keepLoadedSae } from '../report/featureDetails';
import { labelMismatches, readLabelSet } from '../report/labels';
import type { Reduction } from '../runtime/reduction';
import type { SessionSettings } from '../runtime/session';
import { createProjector } from '../sae/createProjector';
import { checkSaeFits, guaranteedMaxL0, loadSae, readSaeInfo, type SaeWeights } from '../sae/loadSae';
import type { Projector } from '../sae/projector';
import type { SaeModelProcessing } from '../sae/types';
import type { SaeInfo } from '../../shared/reportTypes';

/** What each layer's SAE declares it achieves (the self-check compares). */
export type DeclaredFit = { l0?: number; explainedVariance?: number; maxL0?: number };

export interface RunSaes {
  /** The report's SAE shapes, in layer order. */
  infos: SaeInfo[];
  declared: Map<number, DeclaredFit>;
  labels: Map<number, Map<number, string>>;
  projectors: Map<number, Projector>;
  /** SAEs kept loaded for the feature details (within featureDetails.ts's keepLoadedSaeBytes()). */
  loaded: Map<number, SaeWeights>;
  /**
   * Per layer, how TransformerLens processed the model its SAE was trained on: the hooks centre the stream
   * (model/centring.ts) and fold the value biases out of attn_z (model/valueBiasFolding.ts) as it did.
   */
  processing: Map<number, SaeModelProcessing | undefined>;
  /** Per layer, whether its SAE was trained on windows that begin with BOS (SAELens prepend_bos; data/bos.ts). */
  bosFirst: (boolean | undefined)[];
}

/**
 * Step "SAEs": each target layer's SAE checked against the model (shape and hook, before any weight is
 * read), loaded, compiled into a projector session of the chosen reduction path, and its labels read.
 * On failure the projectors built so far are released.
 */
export async function loadSaes(
  config: ResolvedConfig,
  /** What one token's hooked vector holds (modelFolder.ts hookedWidth): an SAE's d_in must equal it. */
  width: number | undefined,
  settings: SessionSettings,
  reduction: Reduction,
  warnings: string[],
  log: (line: string) => void,
): Promise<RunSaes> {
  const out: RunSaes = {
    infos: [],
    declared: new Map(),
    labels: new Map(),
    projectors: new Map(),
    loaded: new Map(),
    processing: new Map(),
    bosFirst: [],
  };
  try {
    for (const layer of config.layers.targets) await loadLayerSae(config, layer, width, settings, reduction, out, warnings, log);
  } catch (e) {
    for (const p of out.projectors.values()) await p.release().catch(() => {});
    throw e;
  }
  return out;
}

/**
 * One layer's SAE into `out`. Its weights are referenced from this function only (and from the session when
 * it feeds them: runtime/session.ts's weightInputs; and from `out.loaded` when small or so fed), so the rest is
 * freed before the next layer's SAE is read: an async function's locals would otherwise stay alive across the
 * loop's awaits (two 65k SAEs at once).
 */
async function loadLayerSae(
  config: ResolvedConfig,
  layer: number,
  width: number | undefined,
  settings: SessionSettings,
  reduction: Reduction,
  out: RunSaes,
  warnings: string[],
  log: (line: string) => void,
): Promise<void> {
  const folder = config.sae.paths.get(layer)!;
  if (!fs.existsSync(folder)) {
    // a value that reads as a hub repo path, not in the cache either: say how to get it there
    const repo = hubRepoPath(path.relative(config.configDir, folder).split(path.sep).join('/'), config.configDir);
    if (repo) throw new SaeDiffError(`SAE folder not found: ${folder}`, { location: config.locate('sae.path'), hint: hubSaeHint(repo) });
  }
  checkSaeFits(
    readSaeInfo(folder, config.sae.format),
    layer,
    width,
    config.sae.checkHookLayer,
    config.locate('sae.path'),
    config.layers.hookPoint,
  );
  const sae = loadSae(folder, config.sae.format);
  out.processing.set(layer, sae.modelProcessing);
  out.bosFirst.push(sae.prependBos);
  out.declared.set(layer, { l0: sae.declaredL0, explainedVariance: sae.declaredExplainedVariance, maxL0: guaranteedMaxL0(sae) });
  if (config.sae.k > sae.dSae)
    warnings.push(`sae.k ${config.sae.k} exceeds the SAE width ${sae.dSae} at layer ${layer}; all active features are compared.`);
  log(
    `SAE layer ${layer}: ${sae.format} ${sae.architecture}${sae.sourceKind ? ` (${sae.sourceKind})` : ''}, d_in ${sae.dIn}, d_sae ${sae.dSae}, dtype ${sae.dtype}${sae.kSae ? `, k ${sae.kSae}` : ''} (${folder})`,
  );
  out.infos.push({
    layer,
    path: folder,
    format: sae.format,
    architecture: sae.architecture,
    d_in: sae.dIn,
    d_sae: sae.dSae,
    dtype: sae.dtype,
    hook_name: sae.hookName,
  });
  const comparisons = config.models.sfts.length + (config.models.reference ? 1 : 0);
  const projector = await createProjector(sae, settings, reduction, {
    k: config.sae.k,
    contexts: config.metrics.top_contexts,
    comparisons,
  });
  out.projectors.set(layer, projector);
  keepLoadedSae(out.loaded, layer, sae, projector.sharesSaeWeights);
  const labelsFile = config.sae.labels.get(layer);
  if (labelsFile && config.sae.labelsFromTemplate && !fs.existsSync(labelsFile))
    warnings.push(`No labels file for layer ${layer} (${labelsFile}): its features show their ids.`);
  else if (labelsFile) {
    const set = readLabelSet(labelsFile);
    if (set.labels.size === 0) warnings.push(`The labels for layer ${layer} (${labelsFile}) are empty: its features show their ids.`);
    out.labels.set(layer, set.labels);
    warnings.push(...labelMismatches(set, layer, sae.modelName));
  }
}
