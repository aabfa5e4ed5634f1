#!/usr/bin/env bash
# One command: set up techmatch and start it on the embedded graph with the demo data.
# Opens the web workspace at the printed address; Ctrl-C stops the service and the graph server.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")" && pwd)"
source "$ROOT/scripts/setup-env.sh" ""  # explicit: a sourced script would see our own arguments
exec techmatch serve --demo "$@"
