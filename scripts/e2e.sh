#!/bin/sh
# The e2e suite in a real VS Code (code-server): install it (cached), build, run.
# Skips cleanly (exit 0, with the reason) when code-server cannot be installed here.
set -u
cd "$(dirname "$0")/.."
mkdir -p test/.tmp
if ! sh scripts/e2e-install.sh > test/.tmp/e2e-install.log 2>&1; then
  echo "SKIP e2e: code-server could not be installed (see test/.tmp/e2e-install.log):"
  tail -n 5 test/.tmp/e2e-install.log
  exit 0
fi
npm run build || exit 1
SAE_DIFF_E2E=1 node --test --test-concurrency=1 out/test/e2e/vscode.e2e.test.js
