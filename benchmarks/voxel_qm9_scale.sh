#!/usr/bin/env bash
# Issue 16 item 1: QM9 voxel learning curves at 1k / 4k / 16k / 32k training molecules, every
# run trained until early stopping (patience 10, learning rate halved on plateaus) or the epoch
# cap (1,000,000 samples per run: 200 / 200 / 62 / 31 epochs). One seed at every size first,
# then seeds 1-2 at 1k and 4k. Every step is resumable (finished runs are skipped, an
# interrupted run resumes from its last epoch), so the chain can be stopped and started again:
#   bash benchmarks/voxel_qm9_scale.sh [OUT]           (default runs/qm9_scale; one core, ~1 day)
# Finished runs are kept in the repository (benchmarks/results/voxel_study_qm9_scale_runs/, their
# result.json files) and restored into OUT first, so a fresh checkout continues where the last
# session stopped. Publish what has finished (copies the result files, writes
# benchmarks/results/voxel_study_qm9_scale.{json,md,png}):
#   bash benchmarks/voxel_qm9_scale.sh publish [OUT]
set -euo pipefail
MODE=run
if [ "${1:-}" = publish ]; then MODE=publish; shift; fi
OUT=${1:-runs/qm9_scale}
SAVED=benchmarks/results/voxel_study_qm9_scale_runs
export OMP_NUM_THREADS=1
ARGS=(--dataset qm9 --targets gap,U0,mu --n-val 500 --n-test 2000 --out "$OUT"
      --samples-per-run 1000000 --min-epochs 20 --max-epochs 200 --batch-size 32 --threads 1
      --workers 2 --quiet)
study() { python -m rhoml bench voxel-study "${ARGS[@]}" "$@"; }
if [ "$MODE" = publish ]; then
  (cd "$OUT/runs" && find . -name result.json) | while read -r f; do
    mkdir -p "$(dirname "$SAVED/$f")" && cp "$OUT/runs/$f" "$SAVED/$f"
  done
  study --sizes 1000,4000,16000,32000 --seeds 3 --summary-only
  python benchmarks/voxel_study_results.py --study "$OUT" --name qm9_scale \
    --command "bash benchmarks/voxel_qm9_scale.sh (rhoml bench voxel-study ${ARGS[*]} --sizes S --seeds K)" \
    --note "${NOTE:-}"
  exit 0
fi
if [ -d "$SAVED" ]; then  # finished runs of earlier sessions
  (cd "$SAVED" && find . -name result.json) | while read -r f; do
    [ -f "$OUT/runs/$f" ] || { mkdir -p "$(dirname "$OUT/runs/$f")" && cp "$SAVED/$f" "$OUT/runs/$f"; }
  done
fi
study --sizes 1000 --seeds 1
study --sizes 4000 --seeds 1
study --sizes 16000 --seeds 1
study --sizes 32000 --seeds 1
study --sizes 1000,4000 --seeds 3
