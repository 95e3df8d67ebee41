/**
 * What the run says about TransformerLens's centring (model/centring.ts): which layers' activations it centred for
 * their SAE, and a warning where an SAE's config asks for centring the model cannot have (RMSNorm, which
 * TransformerLens never centres) or does not say although it was likely trained centred (SAELens before 3.19.2).
 */
import type { SaeCentring } from '../sae/types';

export interface CentringNotes {
  logs: string[];
  warnings: string[];
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
