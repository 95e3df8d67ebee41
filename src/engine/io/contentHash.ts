import * as crypto from 'crypto';
import * as fs from 'fs';

/**
 * sha256 over the bytes of several files (each prefixed by its size, so that moving bytes from one
 * file to the next changes the hash), read in chunks without blocking the event loop.
 */
export async function hashFiles(files: string[], signal?: AbortSignal): Promise<string> {
  const h = crypto.createHash('sha256');
  for (const f of files) {
    const st = await fs.promises.stat(f);
    h.update(`${st.size}\n`);
    for await (const chunk of fs.createReadStream(f, { highWaterMark: 4 * 1024 * 1024, signal })) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

export function hashText(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}
