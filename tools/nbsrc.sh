#!/usr/bin/env bash
# Developer aid: convert jupytext percent sources in .nbsrc/ (not tracked) to the tracked notebooks in nbs/.
# The notebooks in nbs/ are the source of truth; this only helps authoring them as plain text.
set -euo pipefail
cd "$(dirname "$0")/.."
for f in "${@:-.nbsrc/*.py}"; do
  for src in $f; do
    b=$(basename "$src" .py)
    case "$b" in paper_*) dst="nbs/paper/${b#paper_}.ipynb";; *) dst="nbs/$b.ipynb";; esac
    jupytext --to ipynb --set-kernel python3 "$src" -o "$dst" -q
  done
done
