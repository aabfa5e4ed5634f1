#!/usr/bin/env bash
# One command: set up techmatch with its test tools and run the whole test suite (lint + tests).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
cd "$ROOT"
# the st extra too: sentence-transformers encoders (TECHMATCH_EMBEDDER=st:<path>) are part of the product, so CI
# tests them; ./run.sh installs without it
source "$ROOT/scripts/setup-env.sh" test,st
# Browser tests need Debian's Chromium and ChromeDriver; charts need a CJK font; the Neo4j 5 test server
# is built with Maven and a JDK (17 or 21).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)  # Debian 12: Java 17, Debian 13: Java 21
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing system packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
# The integration tests run on ArcadeDB and on a real Neo4j 5 (tests/conftest.py). Build the Neo4j launcher
# now (Maven, cached in ~/.cache/techmatch after the first time) so that a failure is reported here, once.
BACKENDS="${TECHMATCH_TEST_BACKENDS:-arcadedb,neo4j}"
if [[ ",$BACKENDS," == *",neo4j,"* ]]; then
  echo "==> Neo4j 5 test server (Maven build, cached)"
  if ! python -m graph.neo4j_server build; then
    if [ -n "${TECHMATCH_TEST_BACKENDS:-}" ]; then
      echo "test.sh: Neo4j was asked for (TECHMATCH_TEST_BACKENDS=$TECHMATCH_TEST_BACKENDS) and cannot be built" >&2
      exit 1
    fi
    echo "!!! Neo4j 5 cannot be built on this machine: the integration tests will run on ArcadeDB only" >&2
  fi
fi
echo "==> ruff"
ruff check .
echo "==> mypy"
# the packages, as configured in pyproject.toml ([tool.mypy]); any error fails the run
mypy
echo "==> pytest"
python -m pytest -q "$@"
