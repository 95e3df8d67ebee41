/** The Mamba2 mixer's settings (mamba2.ts), as Granite 4.0-H's and Nemotron-H's configs give them. */
export interface MambaSpec {
  /** Per layer: a Mamba2 layer (layer_types "mamba" / "linear_attention"), else attention. */
  layers: boolean[];
  heads: number;
  headDim: number;
  groups: number;
  stateSize: number;
  convKernel: number;
  convBias: boolean;
  /** mamba_proj_bias: biases on in_proj and out_proj. */
  projBias: boolean;
  /** time_step_limit: dt is clamped to it. */
  dtLimit: [number, number];
  /** The gated norm's groups: 1 (Granite 4's over the whole inner width) or n_groups (Nemotron-H's, per group). */
  normGroups: number;
}
