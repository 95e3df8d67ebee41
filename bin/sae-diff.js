#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under out/ (run `npm run build` first in a source checkout).
require('../out/src/cli/main.js').main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
