import type { HookPoint } from '../config/types';

/** What an SAE's hook name says: the layer, and the hook point or why it cannot be hooked. */
export interface ParsedHook {
  layer?: number;
  point?: HookPoint;
  refused?: string;
}

const TL_POINTS: Record<string, HookPoint> = {
  hook_resid_pre: 'resid_pre',
  hook_resid_mid: 'resid_mid',
  hook_resid_post: 'resid_post',
  hook_mlp_out: 'mlp_out',
  hook_attn_out: 'attn_out',
};

/**
 * TransformerLens hook names as SAELens writes them (`blocks.12.hook_resid_post`, `blocks.3.attn.hook_z`,
 * `hook_embed`), sparsify hookpoints (module paths: `layers.12` hooks the block's output, `layers.12.mlp`
 * the MLP's), and Hugging Face module paths with `.output` (Gemma Scope 2's `model.layers.12.output`) or an output
 * projection's `.input` (`model.layers.3.self_attn.o_proj.input`: attn_z).
 */
export function parseHookName(name: string | undefined): ParsedHook {
  if (!name) return {};
  if (/^hook_(embed|pos_embed|tokens)$|^embed$|(^|\.)embed_tokens(\.|$)/.test(name)) {
    return {
      refused: 'it reads the embeddings, not a decoder block (hook the block input with resid_pre of layer 0 only if the SAE says so)',
    };
  }
  const tl = /^blocks\.(\d+)\.(.+)$/.exec(name);
  if (tl) {
    const layer = Number(tl[1]);
    const point = TL_POINTS[tl[2]];
    if (point) return { layer, point };
    // the heads' outputs before W_O, which SAELens flattens head by head (reshape_activations hook_z)
    if (tl[2] === 'attn.hook_z') return { layer, point: 'attn_z' };
    return {
      layer,
      refused: `'${tl[2]}' is not a hook the engine supports (resid_pre, resid_mid, resid_post, attn_out, mlp_out, attn.hook_z)`,
    };
  }
  // dictionary_learning's submodule names (`resid_post_layer_12`, SAEBench) and its Pythia dictionaries' folders
  // (`resid_out_layer3`, `mlp_out_layer1`, `attn_out_layer0`; resid_i is the output of layer i)
  const dl = /^(resid_post|resid_out|resid|mlp_out|mlp|attn_out|attn)_layer_?(\d+)$/.exec(name);
  if (dl)
    return { layer: Number(dl[2]), point: dl[1].startsWith('resid') ? 'resid_post' : dl[1].startsWith('mlp') ? 'mlp_out' : 'attn_out' };
  // module paths: sparsify hookpoints and HF `<module>.output`
  const mod = /^(?:.*?\.)?(?:layers|h|blocks|layer)\.(\d+)(?:\.(.*?))?(?:\.output)?$/.exec(name);
  if (mod) {
    const layer = Number(mod[1]);
    const sub = mod[2] ?? '';
    if (sub === '' || sub === 'output') return { layer, point: 'resid_post' };
    // post_feedforward_layernorm: what Gemma 2/3's MLP adds (Gemma Scope 2's hf_hook_point_in of MLP SAEs)
    if (/^(mlp|feed_forward|ffn|post_feedforward_layernorm)$/.test(sub)) return { layer, point: 'mlp_out' };
    if (/^(self_attn|attn|attention)$/.test(sub)) return { layer, point: 'attn_out' };
    // the output projection's input (a Hugging Face `.input` hook point): the heads' outputs before W_O
    if (/^(self_attn|attn|attention)\.(o_proj|dense|c_proj|out_proj)\.input$/.test(sub)) return { layer, point: 'attn_z' };
    return { layer, refused: `the module '${sub}' is not a residual-stream hook the engine supports` };
  }
  return {};
}
