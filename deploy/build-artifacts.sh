#!/usr/bin/env bash
# Build the matcher's artifacts against the configured graph into DIR (default /artifacts): the embedding
# caches of every achievement and need (DIR/cache/embeddings/*.sqlite) and, where its training data is
# present, the chain-placement model. Workers mount DIR read-only and copy it at start (entrypoint.sh).
# Usage: deploy/build-artifacts.sh [DIR]     (reads TECHMATCH_GRAPH_* like every techmatch command)
set -euo pipefail
# the settings are checked as a worker's are: in production they include the session secret (entrypoint.sh)
if [ -z "${TECHMATCH_SESSION_SECRET:-}" ] && [ -r /run/secrets/session_secret ]; then
  TECHMATCH_SESSION_SECRET="$(cat /run/secrets/session_secret)"
  export TECHMATCH_SESSION_SECRET
fi
DIR="${1:-/artifacts}"
mkdir -p "$DIR"
TECHMATCH_DATA_DIR="$DIR" exec python - <<'PY'
import sys
import time

from api.config import SettingsError, load_settings
from graph.store import open_store
from matcher.engine import MatchEngine

try:
    settings = load_settings()  # TECHMATCH_* read and checked once
except SettingsError as exc:  # one line naming the variable, no traceback
    sys.exit(f"build-artifacts：{exc}")
started = time.perf_counter()
with open_store(settings, setup_schema=False) as store:
    engine = MatchEngine.from_store(store, settings=settings)
    print(f"索引产物已生成：{len(engine.achievements.doc_ids)} 项成果、{len(engine.needs.doc_ids)} 项需求，"
          f"通道 {', '.join(engine.channel_names)}，用时 {time.perf_counter() - started:.0f} 秒，"
          f"目录 {settings.cache_dir}")
try:
    from ingest.classify import cached_industry_model

    cached_industry_model(settings.cache_dir)
except Exception as exc:  # the model is optional: ingest falls back to keywords
    print(f"产业链归类模型未生成：{exc}")
PY
