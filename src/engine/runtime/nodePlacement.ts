/**
 * Which execution provider runs each node, as ONNX Runtime reports it at verbose log severity
 * (onnxruntime/core/framework/session_state.cc, VerifyEachNodeIsAssignedToAnEp): a "Node placements" line,
 * then either " All nodes placed on [EP]. Number of nodes: N", or per provider
 * " Node(s) placed on [EP]. Number of nodes: N" followed by one "  OpType (node name)" line per node.
 */
export interface ProviderPlacement {
  provider: string;
  nodes: number;
  /** Nodes per operator type; empty when ONNX Runtime placed the whole graph on this provider. */
  ops: Record<string, number>;
}

const SOURCE = 'VerifyEachNodeIsAssignedToAnEp]';
const PLACED = /^\s*(All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/;
const NODE = /^\s{2,}(\S+) \((.*)\)\s*$/;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/**
 * The placements in a log, summed over its "Node placements" blocks (a graph's control-flow subgraphs have
 * blocks of their own), one entry per provider in order of appearance.
 */
export function parsePlacements(log: string): ProviderPlacement[] {
  const byProvider = new Map<string, ProviderPlacement>();
  let current: ProviderPlacement | undefined;
  for (const raw of log.split('\n')) {
    const at = raw.indexOf(SOURCE);
    if (at < 0) continue;
    const line = raw.slice(at + SOURCE.length).replace(ANSI, '');
    const placed = PLACED.exec(line);
    if (placed) {
      const provider = placed[2];
      const entry = byProvider.get(provider) ?? { provider, nodes: 0, ops: {} };
      byProvider.set(provider, entry);
      entry.nodes += Number(placed[3]);
      current = placed[1] === 'All nodes' ? undefined : entry;
      continue;
    }
    const node = NODE.exec(line);
    if (node && current) current.ops[node[1]] = (current.ops[node[1]] ?? 0) + 1;
  }
  return [...byProvider.values()];
}
