#!/bin/sh
# The e2e suite in a real VS Code (code-server): install it (cached), build, package this platform's VSIX,
# install that VSIX into code-server and run the suite against it.
# Skips cleanly (exit 0, with the reason) when code-server cannot be installed here.
set -u
cd "$(dirname "$0")/.."
mkdir -p test/.tmp
if ! sh scripts/e2e-install.sh > test/.tmp/e2e-install.log 2>&1; then
  echo "SKIP e2e: code-server could not be installed (see test/.tmp/e2e-install.log):"
  tail -n 5 test/.tmp/e2e-install.log
  exit 0
fi
# tsc for the test files; the VSIX's own prepublish rebuilds the bundles only when stale
node scripts/build.mjs --if-stale || exit 1
TARGET=$(node -p 'process.platform + "-" + process.arch')
node scripts/package.mjs --target "$TARGET" > test/.tmp/e2e-package.log 2>&1 || { cat test/.tmp/e2e-package.log; exit 1; }
SAE_DIFF_E2E=1 node --test --test-concurrency=1 out/test/e2e/vscode.e2e.test.js
