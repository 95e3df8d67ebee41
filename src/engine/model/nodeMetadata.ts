/**
 * Node `metadata_props` (NodeProto field 9, ONNX IR >= 10), which onnx-proto's generated types predate
 * and its decoder skips. torch's dynamo exporter (the default since torch 2.9) puts each node's module
 * scopes there (`pkg.torch.onnx.name_scopes`) instead of in the node name. A minimal protobuf walk over
 * ModelProto.graph (7) -> GraphProto.node (1) -> NodeProto.metadata_props (9) -> StringStringEntryProto
 * key (1) / value (2), field numbers from onnx/onnx.proto; every other field is skipped by its length.
 */
import { bufferSource, type ByteSource, fields, WIRE_LEN } from './protobufFields';

type FieldVisitor = (field: number, start: number, end: number) => void;

/** Calls `visit` for each length-delimited field in [start, end); other wire types are skipped. */
function eachField(src: ByteSource, start: number, end: number, visit: FieldVisitor): void {
  for (const f of fields(src, start, end)) if (f.wire === WIRE_LEN) visit(f.number, f.value, f.end);
}

const text = new TextDecoder();
const KEPT_KEYS = new Set(['pkg.torch.onnx.name_scopes', 'pkg.torch.onnx.class_hierarchy', 'namespace']);

/**
 * The metadata of every top-level graph node, in graph order (the order onnx-proto decodes them, also
 * when the graph field is repeated and merged). Undefined when no node carries any.
 */
export function readNodeMetadata(bytes: Uint8Array): Record<string, string>[] | undefined {
  const src = bufferSource(bytes);
  const nodes: Record<string, string>[] = [];
  let any = false;
  eachField(src, 0, bytes.length, (field, s, e) => {
    if (field !== 7) return;
    eachField(src, s, e, (gField, gs, ge) => {
      if (gField !== 1) return;
      const meta: Record<string, string> = {};
      eachField(src, gs, ge, (nField, ns, ne) => {
        if (nField !== 9) return;
        let key = '',
          value: [number, number] = [0, 0];
        eachField(src, ns, ne, (f, a, b) => {
          if (f === 1) key = text.decode(bytes.subarray(a, b));
          else if (f === 2) value = [a, b];
        });
        // only the scope keys are kept: dynamo also stores a stack trace per node (megabytes in all)
        if (KEPT_KEYS.has(key)) meta[key] = text.decode(bytes.subarray(value[0], value[1]));
        any = true;
      });
      nodes.push(meta);
    });
  });
  return any ? nodes : undefined;
}

/**
 * The module path a dynamo-exported node belongs to: the deepest module of its
 * `pkg.torch.onnx.name_scopes`, a Python list repr such as ['', 'model', 'model.layers.0', 'add_377']
 * (modules from the root down, then the FX node's own name).
 */
export function deepestModuleScope(meta: Record<string, string> | undefined): string | undefined {
  const raw = meta?.['pkg.torch.onnx.name_scopes'];
  if (!raw) return undefined;
  const items = [...raw.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? m[2]);
  return items.length >= 2 ? items[items.length - 2] : undefined;
}
