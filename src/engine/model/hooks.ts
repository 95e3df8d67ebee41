import type { HookPoint } from '../config/types';
import { SaeDiffError } from '../errors';
import { graphOf, ModelProto } from './onnxGraph';

/**
 * Module scopes of decoder blocks as torch / optimum name nodes:
 * Llama-style `/model/layers.N/`, GPT-2-style `/transformer/h.N/`, GPT-NeoX-style `/gpt_neox/layers.N/`, and kin.
 */
const BLOCK_SCOPE = /^(.*\/(?:layers|h|blocks|layer|decoder_layers)\.)(\d+)\/(.*)$/;

export interface HookDiscovery {
  /** Tensor name per target layer. */
  tensors: Map<number, string>;
  /** How many decoder blocks the graph has (by scope), when it could be told. */
  blockCount?: number;
}

interface BlockInfo { nodes: { name: string; opType: string; inputs: string[]; outputs: string[]; direct: boolean; index: number }[] }

function collectBlocks(model: ModelProto): Map<number, BlockInfo> {
  const blocks = new Map<number, BlockInfo>();
  graphOf(model).node.forEach((n, index) => {
    const m = BLOCK_SCOPE.exec(n.name ?? '');
    if (!m) return;
    const layer = Number(m[2]);
    let b = blocks.get(layer);
    if (!b) blocks.set(layer, (b = { nodes: [] }));
    b.nodes.push({ name: n.name!, opType: n.opType!, inputs: n.input ?? [], outputs: n.output ?? [], direct: !m[3].includes('/'), index });
  });
  return blocks;
}

const SKIP_NORM = /^Skip(Simplified)?LayerNormalization$/;

/**
 * The block's output. Unfused exports: the last residual Add directly in the block's scope. Fused
 * exports (ORT transformer optimizer): the residual sum is output 3 of the SkipSimplifiedLayerNormalization
 * that consumes the block's last output (it sits in the next block, or is the final norm).
 */
function residPost(block: BlockInfo, model: ModelProto): string | undefined {
  const direct = block.nodes.filter((n) => n.direct && n.opType === 'Add');
  if (direct.length > 0) return direct[direct.length - 1].outputs[0];
  const last = [...block.nodes].sort((a, b) => a.index - b.index).pop();
  const out = last?.outputs[0];
  if (!out) return undefined;
  const consumer = graphOf(model).node.find((n) => (n.input ?? []).includes(out) && (n.opType === 'Add' || (SKIP_NORM.test(n.opType ?? '') && (n.output ?? [])[3])));
  if (!consumer) return undefined;
  return consumer.opType === 'Add' ? consumer.output![0] : consumer.output![3];
}

/**
 * Fused graphs whose node names carry no module scopes: find the residual stream by position. A Llama-style
 * block has two residual sums (after attention, after the MLP), each the output 3 of a SkipLayerNorm; the
 * block's input for layer 0 is what the first (plain) layer norm reads.
 */
function positionalHooks(model: ModelProto): { post: string[]; embeddings?: string } | undefined {
  const nodes = graphOf(model).node;
  const sums = nodes.filter((n) => SKIP_NORM.test(n.opType ?? '') && (n.output ?? [])[3]).map((n) => n.output![3]);
  if (sums.length < 2 || sums.length % 2 !== 0) return undefined;
  const firstNorm = nodes.find((n) => /^(Simplified)?LayerNormalization$/.test(n.opType ?? ''));
  return { post: sums.filter((_, i) => i % 2 === 1), embeddings: firstNorm?.input?.[0] };
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

export function discoverHooks(model: ModelProto, file: string, targets: number[], hookPoint: HookPoint, explicit: Map<number, string>): HookDiscovery {
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
          location: { file, key: `layers.tensor_names.${layer}` }, hint: 'Open the model in Netron to find the tensor name.',
        });
      }
      tensors.set(layer, named);
      continue;
    }
    if (blockCount === undefined && positional) {
      if (layer >= positional.post.length) {
        throw new SaeDiffError(`Layer ${layer} is past the model's last layer: the fused graph has ${positional.post.length} decoder blocks`, {
          location: { file, key: 'layers.target_indices' }, hint: 'Remove the layer from layers.target_indices.',
        });
      }
      const t = hookPoint === 'resid_post' ? positional.post[layer] : layer === 0 ? positional.embeddings : positional.post[layer - 1];
      if (t) { tensors.set(layer, t); continue; }
    }
    if (blockCount === undefined) {
      throw new SaeDiffError('Cannot find decoder blocks in this ONNX graph: its node names carry no module scopes such as /model/layers.N/', {
        location: { file }, hint: 'Name the hooked tensor of each layer with layers.tensor_names, or export with torch.onnx.export (which keeps module scopes).',
      });
    }
    if (layer >= blockCount) {
      throw new SaeDiffError(`Layer ${layer} is past the model's last layer: the graph has ${blockCount} decoder blocks (0-${blockCount - 1})`, {
        location: { file, key: 'layers.target_indices' }, hint: 'Remove the layer from layers.target_indices.',
      });
    }
    let t: string | undefined;
    if (hookPoint === 'resid_post') t = residPost(blocks.get(layer)!, model);
    else t = layer === 0 ? residPre(blocks.get(0)!, model) : residPost(blocks.get(layer - 1)!, model);
    if (!t) {
      throw new SaeDiffError(`Cannot find the ${hookPoint} tensor of layer ${layer} in the graph`, {
        location: { file }, hint: 'Name it with layers.tensor_names.',
      });
    }
    tensors.set(layer, t);
  }
  return { tensors, blockCount: blockCount ?? positional?.post.length };
}
