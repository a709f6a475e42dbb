#!/usr/bin/env bash
# Sourced by dev.sh / test.sh: puts Node.js 24 and pnpm 12.4.2 on PATH.
# The machines ship Node 20 (end of life); Node 24 comes from the npm registry
# itself (the `node` package ships the binary), installed into .tools/ (git-ignored).
# (no `set -e` here: this file is sourced; callers choose their own shell options)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$REPO_ROOT/.tools"
NODE_WANT=24
PNPM_WANT=12.4.2

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [[ "$(node_major)" -lt "$NODE_WANT" ]]; then
  if [[ ! -x "$TOOLS/node_modules/node/bin/node" ]]; then
    echo "bootstrap: installing Node.js $NODE_WANT and pnpm $PNPM_WANT into .tools/" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$TOOLS" "node@$NODE_WANT" "pnpm@$PNPM_WANT" >&2
  fi
  export PATH="$TOOLS/node_modules/node/bin:$TOOLS/node_modules/.bin:$PATH"
fi
if [[ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_WANT" ]]; then
  if [[ ! -x "$TOOLS/node_modules/.bin/pnpm" ]]; then
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$TOOLS" "pnpm@$PNPM_WANT" >&2
  fi
  export PATH="$TOOLS/node_modules/.bin:$PATH"
fi
# pnpm keeps its store inside the repo's tools folder so CI clones stay self-contained.
export PNPM_HOME="$TOOLS/pnpm-home"
export PRISMA_HIDE_UPDATE_MESSAGE=1
export CHECKPOINT_DISABLE=1
