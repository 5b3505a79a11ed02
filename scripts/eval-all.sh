#!/usr/bin/env bash
# Runs `brevduva eval` on every labelled set in ../shared/eval (or $EVAL_DIR) with the
# release build and prints one JSON line per set, prefixed by its name.
# Extra arguments go to every `eval` call (for example `--learn`).
set -euo pipefail
cd "$(dirname "$0")/.."
EVAL_DIR="${EVAL_DIR:-../shared/eval}"
cargo build --release --quiet
for set in "$EVAL_DIR"/*/; do
    name="$(basename "$set")"
    [ -f "$set/kb.jsonl" ] && [ -f "$set/test.jsonl" ] || continue
    line="$(target/release/brevduva eval --kb "$set/kb.jsonl" --test "$set/test.jsonl" "$@" | tail -n 1)"
    echo "$name $line"
done
