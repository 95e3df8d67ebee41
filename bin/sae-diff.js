#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under out/ (run `npm run build` first in a source checkout).
// 130 (interrupted) exits at once: a read still pending on a FIFO must not keep the process alive.
require('../out/src/cli/main.js')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
    if (code === 130) process.exit(code);
  });
