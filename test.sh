#!/usr/bin/env bash
# One command: set up techmatch with its test tools and run the whole test suite (lint + tests).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
cd "$ROOT"
# the st extra too: sentence-transformers encoders (TECHMATCH_EMBEDDER=st:<path>) are part of the product, so CI
# tests them; ./run.sh installs without it
source "$ROOT/scripts/setup-env.sh" test,st
# Browser tests need Debian's Chromium and ChromeDriver; charts need a CJK font.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
echo "==> ruff"
ruff check .
echo "==> pytest"
python -m pytest -q "$@"
