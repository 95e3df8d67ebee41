/**
 * What the run says about TransformerLens's centring (model/centring.ts): which layers' activations it centred for
 * their SAE, and a warning where an SAE's config asks for centring the model cannot have (RMSNorm, which
 * TransformerLens never centres) or does not say although it was likely trained centred (SAELens before 3.19.2).
 */
import { SaeDiffError } from '../core/errors';
import type { SaeCentring } from '../sae/types';

export interface CentringNotes {
  logs: string[];
  warnings: string[];
}

/**
 * Every model must be centred where base is: a fine-tune whose graph reads as RMSNorm beside a LayerNorm base (another
 * architecture, or an export whose norms were fused past recognition) would be compared in another frame.
 */
export function checkSameCentring(
  base: { centred: ReadonlySet<number>; modelFile: string },
  others: { centred: ReadonlySet<number>; modelFile: string }[],
): void {
  const key = (s: ReadonlySet<number>) => [...s].sort((a, b) => a - b).join(',');
  const other = others.find((m) => key(m.centred) !== key(base.centred));
  if (!other) return;
  const which = (m: { centred: ReadonlySet<number> }) => (m.centred.size ? `centred at layers ${key(m.centred)}` : 'not centred');
  throw new SaeDiffError(
    `The SAEs ask for TransformerLens's centring, but ${other.modelFile} is ${which(other)} and the base ${base.modelFile} ${which(base)}: one normalises with LayerNorm and the other does not`,
    {
      location: { file: other.modelFile },
      hint: "Compare models of the same architecture; an export fused by ONNX Runtime's optimizer can hide its LayerNorms: export it unfused (torch.onnx.export).",
    },
  );
}

export function centringNotes(
  centring: ReadonlyMap<number, SaeCentring | undefined>,
  base: { layerNorm: boolean; centred: ReadonlySet<number> },
  model: string,
): CentringNotes {
  const notes: CentringNotes = { logs: [], warnings: [] };
  const layers = (pick: (c: SaeCentring) => boolean) => [...centring].filter(([, c]) => c && pick(c)).map(([l]) => l);
  const list = (ls: number[]) => (ls.length === 1 ? `layer ${ls[0]}` : `layers ${ls.join(', ')}`);
  const sources = (ls: number[]) => [...new Set(ls.map((l) => centring.get(l)!.source))].join('; ');
  const asked = layers((c) => c.centre);
  if (base.centred.size > 0) {
    const done = [...base.centred];
    notes.logs.push(
      `activations centred over the hidden axis at ${list(done)}, as TransformerLens's center_writing_weights (${sources(done)})`,
    );
  }
  if (asked.length > 0 && !base.layerNorm)
    notes.warnings.push(
      `The SAE of ${list(asked)} was trained on TransformerLens's centred stream (${sources(asked)}), but ${model} normalises with RMSNorm, which TransformerLens does not centre: its activations are read as they are.`,
    );
  const unstated = layers((c) => c.unstated === true);
  if (unstated.length > 0 && base.layerNorm)
    notes.warnings.push(
      `The SAE config of ${list(unstated)} was written before SAELens 3.19.2 and does not say whether ${model} was centred while it trained (TransformerLens's default processing, center_writing_weights, centred LayerNorm models then); the run reads the stream uncentred. If it was trained centred (SAELens' gpt2-small-res-jb and kin were), add "model_from_pretrained_kwargs": {"center_writing_weights": true} to its cfg.json.`,
    );
  return notes;
}
