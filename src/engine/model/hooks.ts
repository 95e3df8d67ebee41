import type { HookPoint } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { deepestModuleScope } from './nodeMetadata';
import { graphOf, ModelProto, nodeMetadata } from './onnxGraph';
import type { onnx } from 'onnx-proto';

/**
 * Module scopes of decoder blocks as torch / optimum name nodes:
 * Llama-style `/model/layers.N/`, GPT-2-style `/transformer/h.N/`, GPT-NeoX-style `/gpt_neox/layers.N/`, and kin.
 */
const BLOCK_SCOPE = /^(.*\/(?:layers|h|blocks|layer|decoder_layers)\.)(\d+)\/(.*)$/;
/** The same block names as dotted module paths (dynamo's name_scopes: `model.layers.0.self_attn`). */
const DOTTED_BLOCK = /^(.*?(?:^|\.)(?:layers|h|blocks|layer|decoder_layers))\.(\d+)(?:\.(.+))?$/;
/**
 * First module below the block that makes the branch resid_mid / resid_post adds: the attention / the MLP, or in
 * blocks with sandwich norms (Gemma 2 and 3, OLMo 2) the norm after it, whose output is what reaches the residual
 * stream (TransformerLens's hook_attn_out / hook_mlp_out there; Gemma Scope's MLP SAEs read
 * post_feedforward_layernorm.output; GLM-4's are post_self_attn_layernorm and post_mlp_layernorm; Falcon-H1's
 * `mixers`, the scaled sum of its Mamba2 mixer and attention that the checkpoint graph makes). A Llama block's
 * post_attention_layernorm feeds the MLP, never the sum.
 */
const ATTN_MODULE =
  /^(self_attn|linear_attn|conv|mamba|attn|attention|self_attention|post_attention_layernorm|post_self_attn_layernorm|mixers)$/;
const MLP_MODULE = /^(mlp|shared_mlp|feed_forward|ffn|block_sparse_moe|post_feedforward_layernorm|post_mlp_layernorm)$/;

/** Token mixers without attention heads, in the attention's place: Gated DeltaNet, LFM2's short convolution, Mamba2. */
const LINEAR_ATTENTION = /^(linear_attn|conv|mamba)(\/|$)/;
/** The attention's output projection (W_O) below its module, with a LoRA branch's scopes under it: Llama's kin o_proj, GPT-NeoX / Phi dense, GPT-2 c_proj, OPT out_proj. */
const OUTPUT_PROJECTION = /^(self_attn|attn|attention|self_attention)\/(o_proj|dense|c_proj|out_proj)(\/|$)/;
/** The projections that make the values (or q, k and v fused): a bias here is a value bias. */
const VALUE_PROJECTION = /^(self_attn|attn|attention|self_attention)\/(v_proj|qkv_proj|c_attn|query_key_value|Wqkv|value)$/;

export interface HookDiscovery {
  /** Tensor name per target layer. */
  tensors: Map<number, string>;
  /** How many decoder blocks the graph has (by scope), when it could be told. */
  blockCount?: number;
}

/** `scope` is the path below the block ('' for a node directly in it, 'self_attn/o_proj' for one in a submodule). */
interface BlockNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  direct: boolean;
  scope: string;
  index: number;
}
interface BlockInfo {
  nodes: BlockNode[];
}

/**
 * The node's name as torch.onnx's TorchScript exporter writes it (`/model/layers.0/self_attn/MatMul`).
 * Dynamo exports name nodes `node_add_377` and keep the scopes in metadata_props; they are rebuilt from
 * the deepest module of `pkg.torch.onnx.name_scopes` (torch/onnx/_internal/exporter/_core.py).
 */
function scopedName(node: onnx.INodeProto): string {
  const name = node.name ?? '';
  if (BLOCK_SCOPE.test(name)) return name;
  const scope = deepestModuleScope(nodeMetadata(node));
  const m = scope ? DOTTED_BLOCK.exec(scope) : null;
  if (!m) return name;
  const below = m[3] ? `${m[3].replace(/\./g, '/')}/` : '';
  return `/${m[1].replace(/\./g, '/')}.${m[2]}/${below}${name || node.opType}`;
}

function collectBlocks(model: ModelProto): Map<number, BlockInfo> {
  const blocks = new Map<number, BlockInfo>();
  graphOf(model).node.forEach((n, index) => {
    const m = BLOCK_SCOPE.exec(scopedName(n));
    if (!m) return;
    const layer = Number(m[2]);
    let b = blocks.get(layer);
    if (!b) blocks.set(layer, (b = { nodes: [] }));
    const scope = m[3].includes('/') ? m[3].slice(0, m[3].lastIndexOf('/')) : '';
    b.nodes.push({ name: n.name!, opType: n.opType!, inputs: n.input ?? [], outputs: n.output ?? [], direct: scope === '', scope, index });
  });
  return blocks;
}

const SKIP_NORM = /^Skip(Simplified)?LayerNormalization$/;

/**
 * What changes the stream after the block's MLP residual sum, each in its own scope as the checkpoint graph scopes
 * it: Gemma 4's per-layer input (a third residual sum) and layer_scalar (modeling_gemma4.py Gemma4TextDecoderLayer).
 * resid_post is the block's output, after them.
 */
const STREAM_TAIL = /^(per_layer_input|layer_scalar)$/;

/** The block's output from its last residual sum `sum`: through the tail that scales it, where the block has one. */
function afterTail(block: BlockInfo, sum: string): string {
  for (let t = sum; ;) {
    const next = block.nodes.find((n) => STREAM_TAIL.test(n.scope) && n.inputs.includes(t));
    if (!next) return t;
    t = next.outputs[0];
  }
}

/** The residual sums of an unfused block: the Adds directly in its scope, in graph order. */
function directAdds(block: BlockInfo): BlockNode[] {
  return block.nodes.filter((n) => n.direct && n.opType === 'Add');
}

/**
 * The block's output. Unfused exports: the last residual Add directly in the block's scope. Fused
 * exports (ORT transformer optimizer): the residual sum is output 3 of the SkipSimplifiedLayerNormalization
 * that consumes the block's last output (it sits in the next block, or is the final norm).
 */
function residPost(block: BlockInfo, model: ModelProto): string | undefined {
  const direct = directAdds(block);
  if (direct.length > 0) return afterTail(block, direct[direct.length - 1].outputs[0]);
  const last = [...block.nodes].sort((a, b) => a.index - b.index).pop();
  const out = last?.outputs[0];
  if (!out) return undefined;
  const consumer = graphOf(model).node.find(
    (n) => (n.input ?? []).includes(out) && (n.opType === 'Add' || (SKIP_NORM.test(n.opType ?? '') && (n.output ?? [])[3])),
  );
  if (!consumer) return undefined;
  return consumer.opType === 'Add' ? consumer.output![0] : consumer.output![3];
}

/**
 * The stream after the attention residual add (TransformerLens hook_resid_mid). Unfused: the input of
 * the last residual Add that is itself a direct Add of the block reading a tensor from outside the block
 * (the block's input); parallel-attention blocks (GPT-J, NeoX) have none and are refused by the caller.
 * Fused: output 3 of the block's last SkipLayerNorm (its post-attention norm).
 */
function residMidNode(block: BlockInfo): { node: BlockNode; sum: string } | undefined {
  const inside = new Set(block.nodes.flatMap((n) => n.outputs));
  const producer = new Map<string, BlockNode>();
  for (const n of block.nodes) for (const o of n.outputs) producer.set(o, n);
  // TorchScript exports read the residual through the norm's dtype Cast (`/input_layernorm/Cast`): see through it
  const source = (t: string): string => {
    for (let p = producer.get(t); p && (p.opType === 'Cast' || p.opType === 'Identity'); p = producer.get(t)) t = p.inputs[0];
    return t;
  };
  const direct = directAdds(block);
  if (direct.length > 0) {
    const post = direct[direct.length - 1];
    const postInputs = post.inputs.map(source);
    const mid = direct.find((a) => a !== post && postInputs.includes(a.outputs[0]) && a.inputs.some((i) => i && !inside.has(source(i))));
    return mid ? { node: mid, sum: mid.outputs[0] } : undefined;
  }
  const skips = block.nodes.filter((n) => SKIP_NORM.test(n.opType) && n.outputs[3]).sort((a, b) => a.index - b.index);
  const last = skips[skips.length - 1];
  return last ? { node: last, sum: last.outputs[3] } : undefined;
}

/**
 * The branch a residual sum adds, when its producer sits in a submodule of the block matching `module`. Granite
 * scales each branch in the block (`residual + hidden_states * residual_multiplier`, modeling_granite.py): through
 * such a Mul, the branch is the module's output, what a forward hook on the module gives.
 */
function branchInto(block: BlockInfo, sum: BlockNode, module: RegExp): string | undefined {
  const producer = new Map<string, BlockNode>();
  for (const n of block.nodes) for (const o of n.outputs) producer.set(o, n);
  const inModule = (t: string) => {
    const p = producer.get(t);
    return p !== undefined && module.test(p.scope.split('/')[0]);
  };
  for (const input of sum.inputs.slice(0, 2)) {
    if (inModule(input)) return input;
    const p = producer.get(input);
    // a direct Mul of the module's output by something from outside the block's computation (a constant)
    if (p && p.direct && p.opType === 'Mul') {
      const scaled = p.inputs.filter(inModule);
      if (scaled.length === 1 && p.inputs.length === 2) return scaled[0];
    }
  }
  return undefined;
}

/**
 * A parallel block's branch (GPT-NeoX, GPT-J: x + attn(ln_1(x)) + mlp(ln_2(x)), no resid_mid): the module's output
 * one of the block's residual Adds reads, what a forward hook on the module gives (TransformerLens's hook_attn_out,
 * hook_mlp_out there).
 */
function parallelBranch(block: BlockInfo, module: RegExp): string | undefined {
  for (const add of directAdds(block)) {
    const branch = branchInto(block, add, module);
    if (branch) return branch;
  }
  return undefined;
}

/** The Add (or SkipLayerNorm) that makes the block's resid_post, when it sits in the block. */
function residPostNode(block: BlockInfo): BlockNode | undefined {
  const direct = directAdds(block);
  return direct.length > 0 ? direct[direct.length - 1] : undefined;
}

/**
 * Fused graphs whose node names carry no module scopes: find the residual stream by position. A Llama-style
 * block has two residual sums (after attention, after the MLP), each the output 3 of a SkipLayerNorm; the
 * block's input for layer 0 is what the first (plain) layer norm reads.
 */
function positionalHooks(model: ModelProto): { mid: string[]; post: string[]; embeddings?: string } | undefined {
  const nodes = graphOf(model).node;
  const sums = nodes.filter((n) => SKIP_NORM.test(n.opType ?? '') && (n.output ?? [])[3]).map((n) => n.output![3]);
  if (sums.length < 2 || sums.length % 2 !== 0) return undefined;
  const firstNorm = nodes.find((n) => /^(Simplified)?LayerNormalization$/.test(n.opType ?? ''));
  return { mid: sums.filter((_, i) => i % 2 === 0), post: sums.filter((_, i) => i % 2 === 1), embeddings: firstNorm?.input?.[0] };
}

/** The block's input: the first outside tensor its first node reads (the embedding output for block 0). */
function residPre(block: BlockInfo, model: ModelProto): string | undefined {
  const inside = new Set<string>();
  for (const n of block.nodes) for (const o of n.outputs) inside.add(o);
  const inits = new Set(graphOf(model).initializer.map((i) => i.name!));
  const graphInputs = new Set(graphOf(model).input.map((i) => i.name!));
  for (const n of [...block.nodes].sort((a, b) => a.index - b.index)) {
    for (const i of n.inputs) if (i && !inside.has(i) && !inits.has(i) && !graphInputs.has(i)) return i;
  }
  return undefined;
}

const WHERE_TEXT: Record<HookPoint, string> = {
  resid_pre: 'the block input',
  resid_mid: 'the residual sum after attention',
  resid_post: 'the block output',
  attn_out: 'the attention output added to the residual stream',
  mlp_out: 'the MLP output added to the residual stream',
  attn_z: "the attention heads' output before the output projection",
};

/** A value bias as the graph holds it: the stored tensor the value projection adds, and that projection's scope. */
export interface ValueBias {
  /** The initializer's name. */
  tensor: string;
  /** Below the block: `attn/c_attn` (GPT-2's q, k and v fused), `self_attn/v_proj`, `attention/query_key_value`. */
  scope: string;
}

/**
 * The value projection's bias: Gemm's third input (checkpoint graphs, 2-D exports) or the stored input of an Add (an
 * export's MatMul + Add); a LoRA branch's Add sums two computed tensors.
 */
function valueBiasIn(block: BlockInfo, model: ModelProto): ValueBias | undefined {
  const stored = new Set(graphOf(model).initializer.map((i) => i.name!));
  for (const n of block.nodes) {
    if (!VALUE_PROJECTION.test(n.scope)) continue;
    if (n.opType === 'Gemm' && (n.inputs[2] ?? '') !== '') return { tensor: n.inputs[2], scope: n.scope };
    const bias = n.opType === 'Add' ? n.inputs.find((i) => stored.has(i)) : undefined;
    if (bias) return { tensor: bias, scope: n.scope };
  }
  return undefined;
}

/** Layer `layer`'s value bias, when its attention has one (model/valueBiasFolding.ts folds it out of attn_z). */
export function valueBiasOf(model: ModelProto, layer: number): ValueBias | undefined {
  const block = collectBlocks(model).get(layer);
  return block && valueBiasIn(block, model);
}

/**
 * TransformerLens's hook_z (blocks.l.attn.hook_z: [batch, pos, head, d_head], which SAELens flattens head by head):
 * the heads' weighted values, before W_O. It is the tensor the output projection's module reads from the rest of
 * the block: the input of o_proj's MatMul in an export (the heads already merged, head-major as transformers'
 * reshape leaves them), of its Reshape in a graph built from a checkpoint. That is hook_z of a model loaded without
 * processing; with a value bias, from_pretrained's fold_value_biases takes b_V out of it (model/valueBiasFolding.ts).
 */
function attentionZ(block: BlockInfo): string | undefined {
  const projection = block.nodes.filter((n) => OUTPUT_PROJECTION.test(n.scope));
  const inProjection = new Set(projection.flatMap((n) => n.outputs));
  const fromBlock = new Set(block.nodes.filter((n) => !OUTPUT_PROJECTION.test(n.scope)).flatMap((n) => n.outputs));
  const entering = new Set(projection.flatMap((n) => n.inputs).filter((i) => i && !inProjection.has(i) && fromBlock.has(i)));
  return entering.size === 1 ? [...entering][0] : undefined;
}

/**
 * The node of layer `layer`'s output projection that reads attn_z (an export's o_proj MatMul or Gemm; not a LoRA
 * branch's), whose second input is W_O; undefined when the graph has no module scopes or no such node. GPT-2's
 * Conv1D reshapes z to rows first, inside c_proj's scope (view, then addmm): its Gemm reads z through that Reshape.
 */
export function outputProjectionNode(model: ModelProto, layer: number): onnx.INodeProto | undefined {
  const block = collectBlocks(model).get(layer);
  if (!block) return undefined;
  const projection = block.nodes.filter((n) => OUTPUT_PROJECTION.test(n.scope) && !n.scope.includes('/lora_'));
  let x = attentionZ(block);
  while (x !== undefined) {
    const input = x;
    const reading = projection.filter((n) => n.inputs[0] === input);
    const linear = reading.find((n) => n.opType === 'MatMul' || n.opType === 'Gemm');
    if (linear) return graphOf(model).node[linear.index];
    x = reading.find((n) => n.opType === 'Reshape' || n.opType === 'Flatten')?.outputs[0];
  }
  return undefined;
}

function scopedHook(blocks: Map<number, BlockInfo>, model: ModelProto, layer: number, hookPoint: HookPoint): string | undefined {
  const block = blocks.get(layer)!;
  switch (hookPoint) {
    case 'attn_z':
      return attentionZ(block);
    case 'resid_post':
      return residPost(block, model);
    case 'resid_pre':
      return layer === 0 ? residPre(block, model) : residPost(blocks.get(layer - 1)!, model);
    case 'resid_mid':
      return residMidNode(block)?.sum;
    case 'attn_out': {
      const mid = residMidNode(block);
      return mid ? branchInto(block, mid.node, ATTN_MODULE) : parallelBranch(block, ATTN_MODULE);
    }
    case 'mlp_out': {
      const post = residPostNode(block);
      if (!post) return undefined;
      return residMidNode(block) ? branchInto(block, post, MLP_MODULE) : parallelBranch(block, MLP_MODULE);
    }
  }
}

export function discoverHooks(
  model: ModelProto,
  file: string,
  targets: number[],
  hookPoint: HookPoint,
  explicit: Map<number, string>,
): HookDiscovery {
  const blocks = collectBlocks(model);
  const blockCount = blocks.size > 0 ? Math.max(...blocks.keys()) + 1 : undefined;
  const produced = new Set<string>();
  for (const n of graphOf(model).node) for (const o of n.output ?? []) produced.add(o);
  const tensors = new Map<number, string>();
  const positional = blockCount === undefined ? positionalHooks(model) : undefined;
  for (const layer of targets) {
    const named = explicit.get(layer);
    if (named !== undefined) {
      if (!produced.has(named)) {
        throw new SaeDiffError(`The tensor '${named}' named for layer ${layer} is not produced by any node of the graph`, {
          location: { file, key: `layers.tensor_names.${layer}` },
          hint: 'Open the model in Netron to find the tensor name.',
        });
      }
      tensors.set(layer, named);
      continue;
    }
    if (blockCount === undefined && positional) {
      if (layer >= positional.post.length) {
        throw new SaeDiffError(
          `Layer ${layer} is past the model's last layer: the fused graph has ${positional.post.length} decoder blocks`,
          {
            location: { file, key: 'layers.target_indices' },
            hint: 'Remove the layer from layers.target_indices.',
          },
        );
      }
      if (hookPoint === 'attn_out' || hookPoint === 'mlp_out' || hookPoint === 'attn_z') {
        throw new SaeDiffError(
          `Cannot locate ${hookPoint} in this fused graph: its node names carry no module scopes to tell the attention and MLP apart`,
          {
            location: { file, key: 'layers.hook_point' },
            hint: 'Name the tensor of each layer with layers.tensor_names, or export the model without fusion (torch.onnx.export).',
          },
        );
      }
      const t =
        hookPoint === 'resid_post'
          ? positional.post[layer]
          : hookPoint === 'resid_mid'
            ? positional.mid[layer]
            : layer === 0
              ? positional.embeddings
              : positional.post[layer - 1];
      if (t) {
        tensors.set(layer, t);
        continue;
      }
    }
    if (blockCount === undefined) {
      throw new SaeDiffError(
        'Cannot find decoder blocks in this ONNX graph: neither its node names nor their metadata_props carry module scopes such as /model/layers.N/',
        {
          location: { file },
          hint: 'Name the hooked tensor of each layer with layers.tensor_names, or export with torch.onnx.export (TorchScript or dynamo, which keep module scopes).',
        },
      );
    }
    if (layer >= blockCount) {
      throw new SaeDiffError(
        `Layer ${layer} is past the model's last layer: the graph has ${blockCount} decoder blocks (0-${blockCount - 1})`,
        {
          location: { file, key: 'layers.target_indices' },
          hint: 'Remove the layer from layers.target_indices.',
        },
      );
    }
    const t = scopedHook(blocks, model, layer, hookPoint);
    if (!t && hookPoint === 'attn_z' && blocks.get(layer)!.nodes.some((n) => LINEAR_ATTENTION.test(n.scope))) {
      throw new SaeDiffError(
        `Layer ${layer} is a linear-attention, convolution or state-space layer (Gated DeltaNet, LFM2's short convolution, Mamba2), which has no attention heads and so no attn_z`,
        {
          location: { file, key: 'layers.target_indices' },
          hint: "Hook attn_z at the model's full_attention layers (config.json's layer_types), or hook this layer at another point (attn_out, resid_post).",
        },
      );
    }
    if (!t) {
      throw new SaeDiffError(`Cannot find the ${hookPoint} tensor (${WHERE_TEXT[hookPoint]}) of layer ${layer} in the graph`, {
        location: { file, key: 'layers.hook_point' },
        hint:
          hookPoint === 'resid_mid'
            ? 'Blocks with parallel attention and MLP (GPT-J, NeoX) have no resid_mid; name the tensor with layers.tensor_names if it exists.'
            : 'Name it with layers.tensor_names.',
      });
    }
    tensors.set(layer, t);
  }
  return { tensors, blockCount: blockCount ?? positional?.post.length };
}
