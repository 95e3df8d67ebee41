import * as fs from 'fs';
import { SaeDiffError } from '../core/errors';

/**
 * Bounded reads of the small files a config names (JSON configs, tokenizers, labels, SAE cfg).
 * Every read opens the path without blocking (a FIFO or /dev/stdin never hangs the caller), checks
 * on the open descriptor that it is a regular file (so /dev/zero is refused, not read forever) and
 * that it is at most `maxBytes`, then reads exactly that many bytes.
 */

const MB = 1024 * 1024;

/** Size caps, generous for real files: the largest tokenizer.json on the Hub is ~35 MB. */
export const READ_CAPS = {
  config: 16 * MB,
  tokenizer: 256 * MB,
  labels: 256 * MB,
  yaml: 16 * MB,
} as const;

// O_NONBLOCK: open() of a FIFO with no writer returns at once instead of waiting; absent on Windows.
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0) | (fs.constants.O_NOCTTY ?? 0);

function humanBytes(n: number): string {
  return n >= MB ? `${(n / MB).toFixed(n % MB === 0 ? 0 : 1)} MB` : `${n} bytes`;
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function checkStats(file: string, st: fs.Stats, maxBytes: number, key?: string): void {
  if (!st.isFile()) {
    throw new SaeDiffError(`${file} is ${kindOf(st)}, not a regular file`, {
      location: { file, key },
      hint: 'Point it at a regular file.',
    });
  }
  if (st.size > maxBytes) {
    throw new SaeDiffError(`${file} is ${humanBytes(st.size)}, more than the ${humanBytes(maxBytes)} this file may have`, {
      location: { file, key },
      hint: 'Check that the path names the right file.',
    });
  }
}

function openError(file: string, e: unknown, key?: string): SaeDiffError {
  if (e instanceof SaeDiffError) return e;
  // opening a socket (e.g. /dev/stdin of a child process) through /proc fails with ENXIO
  if ((e as NodeJS.ErrnoException).code === 'ENXIO')
    return new SaeDiffError(`${file} is a socket or device, not a regular file`, {
      location: { file, key },
      hint: 'Point it at a regular file.',
    });
  return new SaeDiffError(`Cannot read ${file}: ${(e as Error).message}`, { location: { file, key } });
}

/**
 * Opens a regular file of any size for positioned reads (weights files: their headers say what to read).
 * Same open as the bounded reads, so a FIFO, /dev/stdin or /dev/zero is refused instead of blocking.
 */
export function openRegularFile(file: string, key?: string): number {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
    checkStats(file, fs.fstatSync(fd), Number.POSITIVE_INFINITY, key);
    return fd;
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    throw openError(file, e, key);
  }
}

/** Reads a regular file of at most `maxBytes` bytes; throws SaeDiffError (naming the file) otherwise. */
export function readFileBounded(file: string, maxBytes: number, key?: string): Buffer {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
    const st = fs.fstatSync(fd);
    checkStats(file, st, maxBytes, key);
    // read up to one byte past the stated size, so a file that grows meanwhile still stops at the cap
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    while (n < buf.length) {
      const r = fs.readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    if (n > maxBytes) checkStats(file, { ...st, size: n, isFile: () => true } as fs.Stats, maxBytes, key);
    return buf.subarray(0, n);
  } catch (e) {
    throw openError(file, e, key);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The same, without blocking the event loop (the extension host validates with it). */
export async function readFileBoundedAsync(file: string, maxBytes: number, key?: string): Promise<Buffer> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(file, OPEN_FLAGS);
    const st = await fh.stat();
    checkStats(file, st, maxBytes, key);
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > maxBytes) checkStats(file, { ...st, size: n, isFile: () => true } as fs.Stats, maxBytes, key);
    return buf.subarray(0, n);
  } catch (e) {
    throw openError(file, e, key);
  } finally {
    await fh?.close();
  }
}

/**
 * The first `maxBytes` bytes of a regular file (a FIFO or device is refused, never read: reading a
 * FIFO would take the data from its writer). `truncated` when the file is longer.
 */
export function readHeadBounded(file: string, maxBytes: number, key?: string): { bytes: Buffer; truncated: boolean } {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
    const st = fs.fstatSync(fd);
    checkStats(file, st, Number.MAX_SAFE_INTEGER, key);
    const buf = Buffer.alloc(Math.min(maxBytes, st.size));
    let n = 0;
    while (n < buf.length) {
      const r = fs.readSync(fd, buf, n, buf.length - n, n);
      if (r === 0) break;
      n += r;
    }
    return { bytes: buf.subarray(0, n), truncated: st.size > n };
  } catch (e) {
    throw openError(file, e, key);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Decodes UTF-8 strictly: invalid bytes are an error naming the file, never silently replaced. */
export function decodeUtf8(file: string, buf: Uint8Array, key?: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(buf);
  } catch {
    throw new SaeDiffError(`${file} is not valid UTF-8 text`, { location: { file, key }, hint: 'Save the file as UTF-8.' });
  }
}

export function readTextBounded(file: string, maxBytes: number, key?: string): string {
  return decodeUtf8(file, readFileBounded(file, maxBytes, key), key);
}

/** Parses JSON and refuses non-finite numbers (JSON.parse turns 1e999 into Infinity). */
export function parseJsonFinite(file: string, text: string, key?: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SaeDiffError(`Not valid JSON: ${(e as Error).message}`, { location: { file, key }, hint: 'Fix or re-export the file.' });
  }
  const bad = nonFinitePath(value);
  if (bad !== undefined) {
    throw new SaeDiffError(`${file} holds a number that is not finite at ${bad || 'the top level'}`, {
      location: { file, key },
      hint: 'Every number must be finite.',
    });
  }
  return value;
}

export function readJsonBounded(file: string, maxBytes: number, key?: string): unknown {
  return parseJsonFinite(file, readTextBounded(file, maxBytes, key), key);
}

export async function readJsonBoundedAsync(file: string, maxBytes: number, key?: string): Promise<unknown> {
  return parseJsonFinite(file, decodeUtf8(file, await readFileBoundedAsync(file, maxBytes, key), key), key);
}

/** Dotted path of the first non-finite number in a parsed JSON value (iterative: no deep recursion). */
export function nonFinitePath(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length) {
    const [v, p] = stack.pop()!;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return p;
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (typeof v[i] === 'object' || typeof v[i] === 'number') stack.push([v[i], `${p}[${i}]`]);
    } else if (v && typeof v === 'object') {
      for (const [k, c] of Object.entries(v)) if (typeof c === 'object' || typeof c === 'number') stack.push([c, p ? `${p}.${k}` : k]);
    }
  }
  return undefined;
}
