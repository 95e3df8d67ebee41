/**
 * An ONNX file read without the bytes of its weights: every initialiser whose raw_data is large becomes an
 * ONNX external-data reference (location, offset, length) into the file itself, so only the graph is read
 * and ONNX Runtime later reads each weight straight from the file into its own tensor. Measured on the
 * bench's 99 MB model (2-core VM, where touching fresh memory costs about 3.5 ms per MB): reading it whole
 * and copying its weights into the session's protobuf took 0.9 s, and the session 0.9 s more; the skeleton
 * takes 10-20 ms and the session 0.55 s, with 100 MB less resident.
 *
 * The walk follows onnx/onnx.proto's field numbers: ModelProto.graph (7) -> GraphProto.initializer (5) ->
 * TensorProto.raw_data (9), external_data (13), data_location (14). Every other field, nested graphs of
 * If/Loop nodes included, is copied byte for byte; protobuf parsers merge the appended external-data fields
 * into the tensor as if they had been written in place.
 */
import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import { readAt } from '../io/readAt';
import { type ByteSource, type Field, fields, varintBytes, WIRE_LEN } from './protobufFields';

/** raw_data at least this long is left in the file (onnx's convert_model_to_external_data default threshold). */
export const EXTERNAL_MIN_BYTES = 1024;

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

/** Small sequential reads through one reused window (the file is never read whole). */
class FileWindow implements ByteSource {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private start = 0;
  private end = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  byteAt(pos: number): number {
    if (pos < this.start || pos >= this.end) {
      if (pos >= this.size) throw new Error(`truncated at byte ${pos}`);
      this.end = pos + fs.readSync(this.fd, this.buf, 0, this.buf.length, pos);
      this.start = pos;
    }
    return this.buf[pos - this.start];
  }
}

/** The output, as byte ranges of the file and new bytes, in order. */
class Pieces {
  readonly parts: (Uint8Array | [number, number])[] = [];
  length = 0;

  copy(from: number, to: number): void {
    const last = this.parts[this.parts.length - 1];
    if (Array.isArray(last) && last[1] === from) last[1] = to;
    else this.parts.push([from, to]);
    this.length += to - from;
  }

  bytes(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }

  /** `inner` as a length-delimited field numbered `field`. */
  message(field: number, inner: Pieces): void {
    this.bytes(varintBytes(field * 8 + WIRE_LEN));
    this.bytes(varintBytes(inner.length));
    for (const p of inner.parts) {
      if (p instanceof Uint8Array) this.bytes(p);
      else this.copy(p[0], p[1]);
    }
  }
}

/** A TensorProto with its large raw_data replaced by a reference into `location`; undefined when it keeps its bytes. */
function tensorSkeleton(w: FileWindow, start: number, end: number, location: string): Pieces | undefined {
  const all = [...fields(w, start, end)];
  const isRaw = (f: Field) => f.number === TENSOR_RAW_DATA && f.wire === WIRE_LEN;
  // the last raw_data counts (protobuf: a repeated scalar field's last value wins)
  const rawField = all.filter(isRaw).pop();
  if (!rawField || rawField.end - rawField.value < EXTERNAL_MIN_BYTES) return undefined;
  const raw = [rawField.value, rawField.end];
  const out = new Pieces();
  for (const f of all) if (!isRaw(f)) out.copy(f.header, f.end);
  out.bytes(
    onnx.TensorProto.encode({
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(raw[0]) },
        { key: 'length', value: String(raw[1] - raw[0]) },
      ],
    }).finish(),
  );
  return out;
}

function graphSkeleton(w: FileWindow, start: number, end: number, location: string): Pieces {
  const out = new Pieces();
  for (const f of fields(w, start, end)) {
    const tensor = f.number === GRAPH_INITIALIZER && f.wire === WIRE_LEN ? tensorSkeleton(w, f.value, f.end, location) : undefined;
    if (tensor) out.message(GRAPH_INITIALIZER, tensor);
    else out.copy(f.header, f.end);
  }
  return out;
}

/**
 * The file's ModelProto bytes with every initialiser's raw_data of EXTERNAL_MIN_BYTES or more replaced by an
 * external-data reference to `location` (the file's own name, as seen from its folder). Throws on bytes that
 * are not a protobuf message (the caller names the file).
 */
export function readOnnxSkeleton(file: string, location: string): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const w = new FileWindow(fd, fs.fstatSync(fd).size);
    const model = new Pieces();
    for (const f of fields(w, 0, w.size)) {
      if (f.number === MODEL_GRAPH && f.wire === WIRE_LEN) model.message(MODEL_GRAPH, graphSkeleton(w, f.value, f.end, location));
      else model.copy(f.header, f.end);
    }
    const out = Buffer.allocUnsafe(model.length);
    let at = 0;
    for (const p of model.parts) {
      if (p instanceof Uint8Array) {
        out.set(p, at);
        at += p.length;
        continue;
      }
      readAt(fd, out, at, p[1] - p[0], p[0], file);
      at += p[1] - p[0];
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}
