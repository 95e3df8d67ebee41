#!/bin/sh
# Installs code-server 4.100.3 (VS Code 1.100.3) offline-friendly, following shared/e2e/CODE-SERVER.md.
# Idempotent and cached: a finished install leaves a marker and later runs exit at once.
# Usage: scripts/e2e-install.sh [prefix]   (default: $SAE_DIFF_E2E_CACHE or ~/.cache/sae-diff-e2e/code-server)
# Exit 0 = ready; non-zero = could not install (the e2e suite then skips).
set -eu
PREFIX=${1:-${SAE_DIFF_E2E_CACHE:-$HOME/.cache/sae-diff-e2e}/code-server}
MARKER="$PREFIX/.installed-4.100.3"
if [ -f "$MARKER" ] && [ -x "$PREFIX/node_modules/.bin/code-server" ]; then
  echo "code-server already installed: $PREFIX/node_modules/.bin/code-server"
  exit 0
fi

# System packages: ripgrep (replaces the GitHub download of @vscode/ripgrep), chromium (browser),
# libkrb5-dev + pkg-config (kerberos native build). Only attempted when something is missing.
need_apt=""
command -v rg >/dev/null 2>&1 || need_apt="$need_apt ripgrep"
[ -x /usr/bin/chromium ] || need_apt="$need_apt chromium"
[ -f /usr/include/krb5.h ] || [ -f /usr/include/krb5/krb5.h ] || need_apt="$need_apt libkrb5-dev"
command -v pkg-config >/dev/null 2>&1 || need_apt="$need_apt pkg-config"
if [ -n "$need_apt" ]; then
  echo "apt-get install:$need_apt"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # another apt/dpkg (unattended-upgrades, a second install) may hold the lock: wait for it (10 min)
  # instead of failing with exit 100
  LOCK_WAIT="-o DPkg::Lock::Timeout=600"
  # shellcheck disable=SC2086
  $SUDO apt-get $LOCK_WAIT update -q
  # shellcheck disable=SC2086
  $SUDO apt-get $LOCK_WAIT install -y -q --no-install-recommends $need_apt
fi

export npm_config_nodedir=/usr   # node-gyp would otherwise fetch headers from nodejs.org
export npm_config_yes=true       # node-pty's postinstall runs npx node-gyp
# separate commands, not `a && b`: set -e does not stop on a failing left side of &&, and npm must never
# run anywhere but inside $PREFIX (it would add code-server to whatever package.json it finds)
mkdir -p "$PREFIX"
cd "$PREFIX"
[ "$(pwd -P)" = "$(cd "$PREFIX" && pwd -P)" ] || { echo "not in $PREFIX" >&2; exit 1; }
[ -f package.json ] || echo '{"name":"code-server-host","private":true}' > package.json
npm install --ignore-scripts --no-audit --no-fund code-server@4.100.3
npm rebuild argon2 --build-from-source
VS="$PREFIX/node_modules/code-server/lib/vscode"
cd "$VS"
npm install --omit=dev --ignore-scripts --no-audit --no-fund
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
chmod 755 node_modules/@vscode/ripgrep/bin/rg
npm rebuild --foreground-scripts
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
cd extensions
npm install --omit=dev --no-audit --no-fund
touch "$MARKER"
echo "OK: $PREFIX/node_modules/.bin/code-server"
