#!/usr/bin/env bash
# Container entrypoint: secrets from files into the environment (never onto a command line), the shared
# read-only artifacts copied into this container's own data directory, then techmatch.
set -euo pipefail
umask 077
if [ -z "${TECHMATCH_GRAPH_PASSWORD:-}" ] && [ -r /run/secrets/neo4j_auth ]; then
  auth="$(cat /run/secrets/neo4j_auth)"          # "neo4j/<password>", the format Neo4j's image reads
  export TECHMATCH_GRAPH_PASSWORD="${auth#*/}"
fi
if [ -z "${TECHMATCH_SESSION_SECRET:-}" ] && [ -r /run/secrets/session_secret ]; then
  TECHMATCH_SESSION_SECRET="$(cat /run/secrets/session_secret)"
  export TECHMATCH_SESSION_SECRET
fi
DATA="${TECHMATCH_DATA_DIR:-$HOME/.techmatch}"
mkdir -p "$DATA/cache"
if [ -d "${TECHMATCH_ARTIFACTS:-/artifacts}/cache" ]; then
  # a local, writable copy: the worker adds the vectors of texts posted since the artifacts were built
  cp -rn "${TECHMATCH_ARTIFACTS:-/artifacts}/cache/." "$DATA/cache/"
fi
exec techmatch "$@"
