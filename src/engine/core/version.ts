import * as path from 'path';

/** The package version, read once from package.json (above dist/ in the bundle, src/engine or out/src/engine). */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time
      const pkg = require(path.join(__dirname, rel));
      if (pkg?.name === 'sae-diff') return String(pkg.version);
    } catch {
      /* try the next location */
    }
  }
  return '0.0.0';
}

export const TOOL_VERSION = readVersion();
