import * as fs from 'fs';
import * as zlib from 'zlib';

/** A .npy file's bytes (version 1 header, little-endian float32, C order). */
export function npy(shape: number[], data: Float32Array, bodyBytes?: number): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt32BE(0x934e554d, 0);
  head[4] = 0x50;
  head[5] = 0x59;
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), bodyBytes === undefined ? body : body.subarray(0, bodyBytes)]);
}

/** Writes a zip as numpy.savez does (stored) or savez_compressed (deflated); `declaredSize` can lie. */
export function writeZip(
  file: string,
  entries: { name: string; data: Buffer; deflate?: boolean; declaredSize?: number; badOffset?: boolean }[],
): void {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const payload = e.deflate ? zlib.deflateRawSync(e.data) : e.data;
    const name = Buffer.from(e.name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(e.deflate ? 8 : 0, 8);
    lh.writeUInt32LE(payload.length, 18);
    lh.writeUInt32LE(e.declaredSize ?? e.data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(e.deflate ? 8 : 0, 10);
    ch.writeUInt32LE(payload.length, 20);
    ch.writeUInt32LE(e.declaredSize ?? e.data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(e.badOffset ? offset + 7 : offset, 42);
    locals.push(lh, name, payload);
    central.push(ch, name);
    offset += 30 + name.length + payload.length;
  }
  const dir = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(dir.length, 12);
  eocd.writeUInt32LE(offset, 16);
  fs.writeFileSync(file, Buffer.concat([...locals, dir, eocd]));
}
