#!/usr/bin/env bash
# kill -9 soak of training and export (not part of the test suite; minutes to hours).
#
# Training: starts a small run, kills it with SIGKILL at a random moment, checks what is on disk,
# resumes it, kills it again, ... then lets the last resume finish. Export: exports the run, kills
# the export at a random moment, checks the serving folder, ... then lets the last export finish.
#
# What is checked after every kill:
#   - every checkpoint listed (checkpoints/ckpt-N/) is complete: state.json parses, model.index and
#     the model's data file are there (a half-written one may only exist under a hidden name);
#   - config.json parses; metrics.csv rows never go backwards after a resume;
#   - every published export version holds saved_model.pb, variables/ and its metadata, and
#     models.config lists only models that have a version.
# At the end: the last resume reaches the run's total steps (so every kill left a resumable run),
# and after the last export no hidden temporary export folder is left.
#
# Usage: tools/kill-soak.sh [ROUNDS] [WORK_DIR]        (defaults: 10, a new temporary folder)
# Environment:
#   TFDIFFUSION      the command that runs the CLI (default: the repository's ./tfdiffusion)
#   SOAK_STEPS       total steps of the run (default: 300)
#   SOAK_MIN_S, SOAK_MAX_S  the range of the random delay before each kill of train, in seconds
#                    (default: 15..75; the process takes some seconds to start)
#   SOAK_EXPORT_MIN_S, SOAK_EXPORT_MAX_S  the same for export (default: 2..20)
# Exit status: 0 when every check held, 1 otherwise. The last line is the summary.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-10}"
work="${2:-$(mktemp -d "${TMPDIR:-/tmp}/tfdiffusion-soak-XXXXXX")}"
tfdiffusion="${TFDIFFUSION:-$root/tfdiffusion}"
steps="${SOAK_STEPS:-300}"
min_s="${SOAK_MIN_S:-15}"
max_s="${SOAK_MAX_S:-75}"
run="$work/run"
base="$work/models"
mkdir -p "$work"
log="$work/soak.log"
failures=0
train_kills=0
export_kills=0

say() { echo "soak: $*" | tee -a "$log"; }
fail() { say "FAILED: $*"; failures=$((failures + 1)); }
delay() { echo $((min_s + RANDOM % (max_s - min_s + 1))); }
checkpoints() { find "$run/checkpoints" -maxdepth 1 -name 'ckpt-*' 2>/dev/null | wc -l; }

train_args=(train --preset demo --steps "$steps" --base-width 16 --levels 2 --batch-size 16
  --checkpoint-every 5 --keep-checkpoints 3 --log-every 1 --sample-every 0 --sample-count 1
  --progress lines --run-dir "$run")

json_ok() { python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null; }

check_run() {
  [ -f "$run/config.json" ] || return 0 # killed before the run folder was written
  json_ok "$run/config.json" || fail "config.json does not parse"
  for ckpt in "$run"/checkpoints/ckpt-*; do
    [ -d "$ckpt" ] || continue
    json_ok "$ckpt/state.json" || fail "$ckpt: state.json does not parse"
    [ -f "$ckpt/model.index" ] || fail "$ckpt: no model.index"
    compgen -G "$ckpt/model.data-*" >/dev/null || fail "$ckpt: no model data"
  done
  if [ -f "$run/metrics.csv" ]; then
    python3 - "$run/metrics.csv" <<'PY' || fail "metrics.csv: rows out of order"
import sys
steps = []
for line in open(sys.argv[1]):
    f = line.strip().split(",")
    if len(f) == 7 and f[0].isdigit():
        steps.append(int(f[0]))
sys.exit(0 if steps == sorted(set(steps)) else 1)
PY
  fi
}

check_exports() {
  [ -d "$base" ] || return 0
  for version in "$base"/*/[0-9]*; do
    [ -d "$version" ] || continue
    [ -f "$version/saved_model.pb" ] || fail "$version: published without saved_model.pb"
    [ -f "$version/variables/variables.index" ] || fail "$version: published without variables"
    json_ok "$version/assets.extra/tfdiffusion.json" || fail "$version: no metadata"
  done
  if [ -f "$base/models.config" ]; then
    for name in $(sed -n 's/^ *name: "\(.*\)"$/\1/p' "$base/models.config"); do
      compgen -G "$base/$name/[0-9]*" >/dev/null || fail "models.config lists $name without a version"
    done
  fi
}

# Runs the CLI with a kill after a random delay; sets $killed to 1 when it was killed.
run_and_kill() {
  local name="$1"
  shift
  local wait_s
  wait_s="$(delay)"
  $tfdiffusion "$@" >>"$work/$name.log" 2>&1 &
  local pid=$!
  killed=0
  for ((t = 0; t < wait_s * 10; t++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null
    killed=1
  fi
  wait "$pid" 2>/dev/null
  status=$?
}

say "work folder $work, $rounds rounds, train killed after ${min_s}-${max_s} s"
for ((round = 1; round <= rounds; round++)); do
  if [ -f "$run/config.json" ]; then
    run_and_kill train "${train_args[@]}" --resume
  else
    run_and_kill train "${train_args[@]}"
  fi
  if [ "$killed" = 1 ]; then
    train_kills=$((train_kills + 1))
    say "train round $round: killed at step $(tail -n 1 "$run/metrics.csv" 2>/dev/null | cut -d, -f1), $(checkpoints) checkpoints on disk"
  elif [ "$status" != 0 ]; then
    fail "train round $round exited with $status (see $work/train.log)"
  fi
  check_run
done
$tfdiffusion "${train_args[@]}" --resume >>"$work/train.log" 2>&1 || fail "the final resume failed (see $work/train.log)"
check_run
last_step="$(python3 -c 'import json,sys,glob; print(max(json.load(open(p))["step"] for p in glob.glob(sys.argv[1] + "/checkpoints/ckpt-*/state.json")))' "$run" 2>/dev/null)"
[ "$last_step" = "$steps" ] || fail "the run ended at step ${last_step:-none}, not $steps"

min_s="${SOAK_EXPORT_MIN_S:-2}"
max_s="${SOAK_EXPORT_MAX_S:-20}"
for ((round = 1; round <= rounds; round++)); do
  run_and_kill export export --run "$run" --base "$base" --name soak --steps 4
  if [ "$killed" = 1 ]; then
    export_kills=$((export_kills + 1))
  elif [ "$status" != 0 ]; then
    fail "export round $round exited with $status (see $work/export.log)"
  fi
  check_exports
done
$tfdiffusion export --run "$run" --base "$base" --name soak --steps 4 >>"$work/export.log" 2>&1 || fail "the final export failed (see $work/export.log)"
check_exports
left="$(find "$base" -maxdepth 2 -name '.tmp-export-*' | wc -l)"
[ "$left" = 0 ] || fail "$left temporary export folders left after the final export"
versions="$(find "$base/soak" -mindepth 1 -maxdepth 1 -name '[0-9]*' | wc -l)"

say "training: $train_kills kills in $rounds rounds, final resume at step ${last_step:-none}/$steps;" \
  "export: $export_kills kills in $rounds rounds, $versions complete versions, $left temporary folders left;" \
  "$failures failed checks"
[ "$failures" = 0 ]
