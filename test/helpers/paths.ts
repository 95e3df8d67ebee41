import * as fs from 'fs';
import * as path from 'path';

/** Repository root (tests run from out/test/...). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'tiny-llama');
export const CLI = path.join(REPO_ROOT, 'bin', 'sae-diff.js');

/** A fresh scratch folder under test/.tmp (git-ignored). */
export function scratchDir(name: string): string {
  const dir = path.join(REPO_ROOT, 'test', '.tmp', `${name}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
