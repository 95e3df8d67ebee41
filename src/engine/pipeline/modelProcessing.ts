/**
 * What the run says about TransformerLens's processing of the models its SAEs were trained on: which layers'
 * activations it centred (model/centring.ts) or took the value biases out of (attn_z: model/valueBiasFolding.ts) for
 * their SAE, and a warning where an SAE's config asks for centring the model cannot have (RMSNorm, which
 * TransformerLens never centres) or does not say although the model was likely processed (SAELens before 3.19.2).
 */
import type { HookPoint } from '../config/types';
import { SaeDiffError } from '../core/errors';
import type { SaeModelProcessing } from '../sae/types';

export interface ProcessingNotes {
  logs: string[];
  warnings: string[];
}

/** What the hooks did to a model for its SAEs (HookedModel's fields). */
export interface HookedProcessing {
  modelFile: string;
  /** Whether the graph normalises with LayerNorm. */
  layerNorm: boolean;
  centred: ReadonlySet<number>;
  /** attn_z layers whose attention has a value bias, and those whose bias was folded out. */
  valueBiased: ReadonlySet<number>;
  valueBiasesFolded: ReadonlySet<number>;
}

const key = (s: ReadonlySet<number>) => [...s].sort((a, b) => a - b).join(',');
const list = (ls: readonly number[]) => (ls.length === 1 ? `layer ${ls[0]}` : `layers ${ls.join(', ')}`);

/**
 * Every model must be processed where base is: a fine-tune whose graph reads as RMSNorm beside a LayerNorm base
 * (another architecture, or an export whose norms were fused past recognition), or whose attention has no value bias
 * where base's has, would be compared in another frame.
 */
export function checkSameProcessing(base: HookedProcessing, others: HookedProcessing[]): void {
  const centring = others.find((m) => key(m.centred) !== key(base.centred));
  if (centring) {
    const which = (m: HookedProcessing) => (m.centred.size ? `centred at layers ${key(m.centred)}` : 'not centred');
    throw new SaeDiffError(
      `The SAEs ask for TransformerLens's centring, but ${centring.modelFile} is ${which(centring)} and the base ${base.modelFile} ${which(base)}: one normalises with LayerNorm and the other does not`,
      {
        location: { file: centring.modelFile },
        hint: "Compare models of the same architecture; an export fused by ONNX Runtime's optimizer can hide its LayerNorms: export it unfused (torch.onnx.export).",
      },
    );
  }
  const folding = others.find((m) => key(m.valueBiasesFolded) !== key(base.valueBiasesFolded));
  if (folding) {
    const which = (m: HookedProcessing) =>
      m.valueBiasesFolded.size ? `has value biases at layers ${key(m.valueBiasesFolded)}` : 'has none';
    throw new SaeDiffError(
      `The SAEs ask for TransformerLens's fold_value_biases, but ${folding.modelFile} ${which(folding)} and the base ${base.modelFile} ${which(base)}`,
      { location: { file: folding.modelFile }, hint: 'Compare models of the same architecture.' },
    );
  }
}

export function processingNotes(
  processing: ReadonlyMap<number, SaeModelProcessing | undefined>,
  base: HookedProcessing,
  hookPoint: HookPoint,
  model: string,
): ProcessingNotes {
  const notes: ProcessingNotes = { logs: [], warnings: [] };
  const layers = (pick: (c: SaeModelProcessing) => boolean) => [...processing].filter(([, c]) => c && pick(c)).map(([l]) => l);
  const sources = (ls: number[]) => [...new Set(ls.map((l) => processing.get(l)!.source))].join('; ');
  const unstated = layers((c) => c.unstated === true);
  if (base.valueBiasesFolded.size > 0) {
    const done = [...base.valueBiasesFolded];
    notes.logs.push(`attn_z minus each head's value bias at ${list(done)}, as TransformerLens's fold_value_biases (${sources(done)})`);
  }
  const unfolded = unstated.filter((l) => base.valueBiased.has(l));
  if (unfolded.length > 0)
    notes.warnings.push(
      `The SAE config of ${list(unfolded)} was written before SAELens 3.19.2 and does not say whether TransformerLens folded ${model}'s value biases out of hook_z while it trained (fold_value_biases, its default processing then); the run reads hook_z as the attention computes it, value biases included. If it was trained with them folded, add "model_from_pretrained_kwargs": {"fold_value_biases": true} to its cfg.json.`,
    );
  // center_writing_weights changes what writes to the residual stream, not attn_z
  if (hookPoint === 'attn_z') return notes;
  if (base.centred.size > 0) {
    const done = [...base.centred];
    notes.logs.push(
      `activations centred over the hidden axis at ${list(done)}, as TransformerLens's center_writing_weights (${sources(done)})`,
    );
  }
  const asked = layers((c) => c.centre);
  if (asked.length > 0 && !base.layerNorm)
    notes.warnings.push(
      `The SAE of ${list(asked)} was trained on TransformerLens's centred stream (${sources(asked)}), but ${model} normalises with RMSNorm, which TransformerLens does not centre: its activations are read as they are.`,
    );
  if (unstated.length > 0 && base.layerNorm)
    notes.warnings.push(
      `The SAE config of ${list(unstated)} was written before SAELens 3.19.2 and does not say whether ${model} was centred while it trained (TransformerLens's default processing, center_writing_weights, centred LayerNorm models then); the run reads the stream uncentred. If it was trained centred (SAELens' gpt2-small-res-jb and kin were), add "model_from_pretrained_kwargs": {"center_writing_weights": true} to its cfg.json.`,
    );
  return notes;
}
