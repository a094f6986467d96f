#!/usr/bin/env bash
# Remakes the figures of README.md and docs/OUTPUTS.md at one IEEE column (3.5 in), from the
# default run (about 2 minutes on 2 cores on a quiet machine).
#   bash docs/figures/make.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
wfl=.venv/bin/wfl-cosim
$wfl run scenarios/default.toml --out runs/docs-default --overwrite --quiet
$wfl plot runs/docs-default --width 3.5 --no-title
for f in timeline accuracy misses positions snr; do
  cp "runs/docs-default/$f.png" "docs/figures/$f.png"
done
