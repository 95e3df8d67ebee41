import type { Reduction } from '../runtime/reduction';
import type { SessionSettings } from '../runtime/session';
import { DenseProjector } from './denseProjector';
import type { SaeWeights } from './loadSae';
import { Projector, ProjectorOptions, SaeProjector } from './projector';

/** The projector of the chosen reduction path (runtime/reduction.ts). */
export async function createProjector(
  sae: SaeWeights,
  settings: SessionSettings,
  reduction: Reduction,
  options: ProjectorOptions,
): Promise<Projector> {
  return reduction === 'dense' ? DenseProjector.create(sae, settings, options) : SaeProjector.create(sae, settings, options);
}
