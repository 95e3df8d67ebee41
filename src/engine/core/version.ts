import * as path from 'path';

/**
 * The package version, read once from the nearest package.json named sae-diff above this module (dist/ in
 * the bundle, src/engine/core under ts-node, out/src/engine/core when built: each a different depth).
 */
function readVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time
      const pkg = require(path.join(dir, 'package.json'));
      if (pkg?.name === 'sae-diff') return String(pkg.version);
    } catch {
      /* not here: the folder above */
    }
    if (path.dirname(dir) === dir) return '0.0.0';
  }
}

export const TOOL_VERSION = readVersion();
