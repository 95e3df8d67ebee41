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

/** The block's output: the last residual sum directly in the block's scope. */
function residPost(block: BlockInfo): string | undefined {
  const direct = block.nodes.filter((n) => n.direct && n.opType === 'Add');
  if (direct.length > 0) return direct[direct.length - 1].outputs[0];
  // Fused exports (ORT transformer optimizer): the residual sum is the extra output of SkipSimplifiedLayerNormalization.
  const fused = block.nodes.filter((n) => /^Skip(Simplified)?LayerNormalization$/.test(n.opType) && n.outputs.length >= 4 && n.outputs[3]);
  if (fused.length > 0) return fused[fused.length - 1].outputs[3];
  return undefined;
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
    if (hookPoint === 'resid_post') t = residPost(blocks.get(layer)!);
    else t = layer === 0 ? residPre(blocks.get(0)!, model) : residPost(blocks.get(layer - 1)!);
    if (!t) {
      throw new SaeDiffError(`Cannot find the ${hookPoint} tensor of layer ${layer} in the graph`, {
        location: { file }, hint: 'Name it with layers.tensor_names.',
      });
    }
    tensors.set(layer, t);
  }
  return { tensors, blockCount };
}
