import type { ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { attentionHeads, hiddenSize, layerCount, ModelFiles, resolveModelFiles } from '../model/modelFolder';
import { adapterBaseWarning, describeAdapter } from '../model/checkpoint/loraAdapter';
import { HookedModel, type HookOptions } from '../model/runner';
import type { SessionSettings } from '../runtime/session';

/**
 * A run's models by role, held apart: base, the fine-tunes (each compared with base), and the optional
 * reference (models.reference: run like a fine-tune, base vs reference is the noise floor).
 */
export interface RunModels<T> {
  base: T;
  fineTunes: T[];
  reference?: T;
}

export function everyModel<T>(m: RunModels<T>): T[] {
  return [m.base, ...m.fineTunes, ...(m.reference ? [m.reference] : [])];
}

/**
 * Step "models", first half: every model folder resolved and checked against base and the target layers
 * (hidden size, layer count) before any weight is read. Returns base's hidden size when config.json says it.
 */
export function resolveModels(
  config: ResolvedConfig,
  log: (line: string) => void,
  warnings: string[] = [],
): { files: RunModels<ModelFiles>; hidden: number | undefined } {
  const base = resolveModelFiles(config.models.base, config);
  const files: RunModels<ModelFiles> = {
    base,
    fineTunes: config.models.sfts.map((s) => resolveModelFiles(s, config, base)),
    reference: config.models.reference ? resolveModelFiles(config.models.reference, config, base) : undefined,
  };
  const hidden = hiddenSize(files.base.configJson);
  for (const model of everyModel(files)) {
    const count = layerCount(model.configJson);
    const h = hiddenSize(model.configJson);
    log(`model ${model.spec.name}: ${model.source.file} (${count ?? '?'} layers, hidden ${h ?? '?'})`);
    const adapter = model.source.format === 'checkpoint' ? model.source.adapter : undefined;
    if (adapter) log(`model ${model.spec.name}: PEFT adapter, ${describeAdapter(adapter)}`);
    const mismatch = adapter && adapterBaseWarning(adapter, model.spec.name, base.spec);
    if (mismatch) {
      warnings.push(mismatch);
      log(`warning: ${mismatch}`);
    }
    if (h !== undefined && hidden !== undefined && h !== hidden) {
      throw new SaeDiffError(`${model.spec.name} has hidden size ${h} but the base has ${hidden}`, {
        location: config.locate(model.spec.key),
        hint: 'A fine-tune must keep the base architecture.',
      });
    }
    for (const l of config.layers.targets) {
      if (count !== undefined && l >= count) {
        throw new SaeDiffError(`Layer ${l} is past the last layer of ${model.spec.name}, which has ${count} layers (0-${count - 1})`, {
          location: config.locate('layers.target_indices'),
          hint: `Remove ${l} from layers.target_indices.`,
        });
      }
    }
  }
  return { files, hidden };
}

/**
 * Step "models", second half: the hooked ONNX sessions, base first (with the neighbouring positions the
 * self-check probes), then the fine-tunes, then the reference. `loaded` sees each as soon as it exists, so
 * the caller can release it whatever fails next.
 */
export async function loadModels(
  files: RunModels<ModelFiles>,
  hooks: HookOptions,
  settings: SessionSettings,
  loaded: (m: HookedModel) => void,
): Promise<RunModels<HookedModel>> {
  const load = async (f: ModelFiles, options: HookOptions) => {
    // each model's own heads say where its value biases lie, when attn_z folds them (model/valueBiasFolding.ts)
    const m = await HookedModel.load(f.source, { ...options, attentionHeads: attentionHeads(f.configJson) }, settings);
    loaded(m);
    return m;
  };
  const base = await load(files.base, { ...hooks, probeNeighbours: true });
  const fineTunes: HookedModel[] = [];
  for (const f of files.fineTunes) fineTunes.push(await load(f, hooks));
  const reference = files.reference ? await load(files.reference, hooks) : undefined;
  return { base, fineTunes, reference };
}
