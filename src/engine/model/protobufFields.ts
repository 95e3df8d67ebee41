/**
 * A minimal protobuf walk (the wire format of protobuf's encoding guide): the fields of a message as
 * positions, without decoding it. Used where onnx-proto's decoder cannot go: node metadata_props it predates
 * (nodeMetadata.ts), and a model file read without its weights (onnxSkeleton.ts).
 */

/** Bytes by position: an in-memory buffer, or a window over a file. */
export interface ByteSource {
  /** The byte at `pos`; throws past the end. */
  byteAt(pos: number): number;
}

/** A field: it spans [header, end); a length-delimited field's payload is [value, end). */
export interface Field {
  number: number;
  wire: number;
  header: number;
  value: number;
  end: number;
}

export const WIRE_LEN = 2;

export function bufferSource(buf: Uint8Array): ByteSource {
  return {
    byteAt(pos) {
      if (pos >= buf.length) throw new Error(`truncated at byte ${pos}`);
      return buf[pos];
    },
  };
}

export function readVarint(src: ByteSource, at: { pos: number }): number {
  let value = 0,
    scale = 1,
    byte: number;
  do {
    byte = src.byteAt(at.pos++);
    value += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  return value;
}

/** The fields of the message in [start, end), headers only. */
export function* fields(src: ByteSource, start: number, end: number): Generator<Field> {
  const at = { pos: start };
  while (at.pos < end) {
    const header = at.pos;
    const tag = readVarint(src, at);
    const wire = tag & 7;
    let value = at.pos;
    if (wire === 0) readVarint(src, at);
    else if (wire === 1) at.pos += 8;
    else if (wire === 5) at.pos += 4;
    else if (wire === WIRE_LEN) {
      const length = readVarint(src, at);
      value = at.pos;
      at.pos += length;
    } else throw new Error(`unsupported wire type ${wire} at byte ${header}`);
    if (at.pos > end) throw new Error(`field at byte ${header} runs past its message`);
    yield { number: Math.floor(tag / 8), wire, header, value, end: at.pos };
  }
}

/** A protobuf varint. */
export function varintBytes(n: number): Uint8Array {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}
