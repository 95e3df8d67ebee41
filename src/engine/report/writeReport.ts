import * as fs from 'fs';
import * as path from 'path';
import { CancelledError, SaeDiffError } from '../core/errors';

/** Temp files this process has open right now, so that a forced exit can remove them. */
const liveTemps = new Set<string>();

/** Removes this process's temp files (a forced exit on a signal calls it). */
export function removeLiveTempFiles(): void {
  for (const t of liveTemps) fs.rmSync(t, { force: true });
  liveTemps.clear();
}

/**
 * Writes a file atomically: a temp file beside it (O_EXCL), every byte written and fsynced, then a
 * rename. A full disk, a crash or a signal leaves the previous file as it was, never half a report.
 * The target must be a regular file or missing: a device node, FIFO or folder is refused, not replaced.
 */
export function writeFileAtomic(file: string, content: string): void {
  const tmp = writeTemp(file, content);
  commit(tmp, file);
}

/**
 * The same, with a turn of the event loop between the write and the rename so that a SIGINT/SIGTERM
 * that arrived during the write is seen: then the temp file is removed and CancelledError is thrown.
 */
export async function writeFileAtomicAsync(file: string, content: string, signal?: AbortSignal): Promise<void> {
  const tmp = writeTemp(file, content);
  try {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    if (signal?.aborted) throw new CancelledError();
  } catch (e) {
    dropTemp(tmp);
    throw e;
  }
  commit(tmp, file);
}

function fail(file: string, message: string, hint?: string): SaeDiffError {
  return new SaeDiffError(message, { location: { file, key: 'output.save_path' }, hint });
}

/** Refuses a target that exists and is not a regular file (lstat: a symlink is refused too). */
export function checkWritableTarget(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fail(file, `Cannot check the report path: ${(e as Error).message}`);
  }
  if (st.isFile()) return;
  const what = st.isDirectory()
    ? 'a folder'
    : st.isSymbolicLink()
      ? 'a symbolic link'
      : st.isFIFO()
        ? 'a FIFO'
        : st.isCharacterDevice() || st.isBlockDevice()
          ? 'a device'
          : st.isSocket()
            ? 'a socket'
            : 'not a regular file';
  throw fail(
    file,
    `The report path is ${what}; it is left as it is and no report is written`,
    'Give a path to a regular file (or a new one).',
  );
}

function writeTemp(file: string, content: string): string {
  const dir = path.dirname(file);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fail(file, `Cannot create the report folder: ${(e as Error).message}`);
  }
  checkWritableTarget(file);
  removeStaleTempFiles(file);
  const data = Buffer.from(content, 'utf8');
  let tmp = '';
  let fd: number | undefined;
  try {
    // O_EXCL: never write through a file (or link) someone put at the temp name
    for (let attempt = 0; fd === undefined; attempt++) {
      tmp = tempPathFor(file);
      try {
        fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 8) throw e;
      }
    }
    liveTemps.add(tmp);
    // writeSync may write fewer bytes than asked (a full disk): loop until all are written or it throws
    let off = 0;
    while (off < data.length) {
      const n = fs.writeSync(fd, data, off, data.length - off);
      if (n <= 0) throw new Error(`wrote ${off} of ${data.length} bytes`);
      off += n;
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (e) {
    if (fd !== undefined)
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    if (tmp) dropTemp(tmp);
    throw fail(
      file,
      `Cannot write the report: ${(e as Error).message}`,
      'The previous report (if any) is unchanged. Free some disk space or choose another output path.',
    );
  }
}

function commit(tmp: string, file: string): void {
  try {
    checkWritableTarget(file); // again: it may have been replaced while we wrote
    fs.renameSync(tmp, file);
    liveTemps.delete(tmp);
  } catch (e) {
    dropTemp(tmp);
    if (e instanceof SaeDiffError) throw e;
    throw fail(file, `Cannot write the report: ${(e as Error).message}`);
  }
}

function dropTemp(tmp: string): void {
  liveTemps.delete(tmp);
  try {
    fs.rmSync(tmp, { force: true });
  } catch {
    /* nothing more to do */
  }
}

export function tempPathFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Removes `<file>.tmp-PID-*` left by a process of this tool that is gone (killed during a write). */
export function removeStaleTempFiles(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.tmp-`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-[a-z0-9]{1,8}$/.exec(name.slice(prefix.length));
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    const p = path.join(dir, name);
    try {
      if (fs.lstatSync(p).isFile()) fs.rmSync(p, { force: true });
    } catch {
      /* another run removed it */
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}
