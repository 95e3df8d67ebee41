/**
 * How TransformerLens processed the model a SAELens SAE was trained on, as SAELens itself tells: whether it read the
 * centred residual stream (model/centring.ts) and hook_z without the value biases (model/valueBiasFolding.ts). Its
 * training runs load the model with HookedTransformer.from_pretrained_no_processing(**model_from_pretrained_kwargs)
 * since 3.19.2 (sae_lens/load_model.py; the kwargs are saved in cfg.json, top level or, in SAELens 6, in metadata), so
 * the stream is centred when those kwargs set center_writing_weights, and the value biases folded when they set
 * fold_value_biases. Before 3.19.2 training used from_pretrained, whose default processing does both (centring
 * LayerNorm models only), and cfg.json did not record it;
 * SAELens marks its own releases trained that way with config_overrides in pretrained_saes.yaml (a SAE loaded from
 * the hub cache of one of those repos is read with its override). A release SAE that SAE.from_pretrained loaded and
 * save_model saved keeps its neuronpedia_id (pretrained_saes_directory.py puts it in the config's overrides): that
 * names the release too, gpt2-small-hook-z-kk's among them, which SAELens converts without saying how its model was
 * processed (attention-output-saes' train.py: from_pretrained's defaults). Models other than HookedTransformer
 * (AutoModelForCausalLM, HookedMamba) are never processed.
 */
import { cachedRepoOf } from '../../model/hfCache';
import type { SaeModelProcessing } from '../types';

/**
 * The repos of SAELens releases whose pretrained_saes.yaml config_overrides set model_from_pretrained_kwargs
 * center_writing_weights true (SAELens at 91ca16c, October 2025), and the release names.
 */
const CENTRED_RELEASES = new Map([
  ['jbloom/GPT2-Small-SAEs-Reformatted', 'gpt2-small-res-jb'],
  ['jbloom/GPT2-Small-Feature-Splitting-Experiment-Layer-8', 'gpt2-small-res-jb-feature-splitting'],
  ['tommmcgrath/gpt2-small-mlp-out-saes', 'gpt2-small-mlp-tm'],
]);

/** Releases by the neuronpedia_id of their SAEs (pretrained_saes.yaml), with the processing they were trained on. */
const PROCESSED_RELEASES: { neuronpedia: RegExp; release: string; centre: boolean; foldValueBiases: boolean }[] = [
  { neuronpedia: /^gpt2-small\/\d+-res-jb$/, release: 'gpt2-small-res-jb', centre: true, foldValueBiases: false },
  { neuronpedia: /^gpt2-small\/\d+-res_fs\d+-jb$/, release: 'gpt2-small-res-jb-feature-splitting', centre: true, foldValueBiases: false },
  { neuronpedia: /^gpt2-small\/\d+-att-kk$/, release: 'gpt2-small-hook-z-kk', centre: true, foldValueBiases: true },
];

/** A SAELens version as numbers, or undefined when it is not one. */
function versionOf(v: unknown): number[] | undefined {
  const m = typeof v === 'string' ? /^(\d+)\.(\d+)\.(\d+)/.exec(v) : null;
  return m ? m.slice(1).map(Number) : undefined;
}

const before = (v: number[], than: number[]) => {
  for (let i = 0; i < than.length; i++) if (v[i] !== than[i]) return v[i] < than[i];
  return false;
};

/** `raw`: cfg.json as saved (before upgradeSaeLensConfig). */
export function saeLensProcessing(raw: Record<string, any>, folder: string): SaeModelProcessing {
  const meta = raw.metadata && typeof raw.metadata === 'object' ? raw.metadata : {};
  const modelClass = raw.model_class_name ?? meta.model_class_name;
  const none = { centre: false, foldValueBiases: false };
  if (modelClass !== undefined && modelClass !== null && modelClass !== 'HookedTransformer')
    return { ...none, source: `cfg.json model_class_name ${modelClass} (not processed by TransformerLens)` };
  const repo = cachedRepoOf(folder);
  const release = repo ? CENTRED_RELEASES.get(repo) : undefined;
  if (release) return { ...none, centre: true, source: `SAELens' pretrained_saes.yaml, release ${release} (${repo})` };
  const neuronpedia = raw.neuronpedia_id ?? meta.neuronpedia_id;
  const known = typeof neuronpedia === 'string' ? PROCESSED_RELEASES.find((r) => r.neuronpedia.test(neuronpedia)) : undefined;
  if (known)
    return {
      centre: known.centre,
      foldValueBiases: known.foldValueBiases,
      source: `SAELens' release ${known.release} (neuronpedia_id ${neuronpedia})`,
    };
  const kwargs = raw.model_from_pretrained_kwargs ?? meta.model_from_pretrained_kwargs;
  if (kwargs && typeof kwargs === 'object' && !Array.isArray(kwargs)) {
    const centre = kwargs.center_writing_weights === true;
    const foldValueBiases = kwargs.fold_value_biases === true;
    const set = [...(centre ? ['center_writing_weights'] : []), ...(foldValueBiases ? ['fold_value_biases'] : [])];
    return { centre, foldValueBiases, source: `cfg.json model_from_pretrained_kwargs${set.length ? ` ${set.join(', ')} true` : ''}` };
  }
  const version = versionOf(raw.sae_lens_training_version ?? raw.sae_lens_version ?? meta.sae_lens_version);
  if (version && !before(version, [3, 19, 2]))
    return { ...none, source: 'cfg.json (SAELens 3.19.2 or later, no model_from_pretrained_kwargs)' };
  return { ...none, unstated: true, source: 'cfg.json (no model_from_pretrained_kwargs, written before SAELens 3.19.2)' };
}
