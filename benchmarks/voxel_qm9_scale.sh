#!/usr/bin/env bash
# Issue 16 item 1: QM9 voxel learning curves at 1k / 4k / 16k / 32k training molecules, every
# run trained until early stopping (patience 10, learning rate halved on plateaus) or the epoch
# cap (1,000,000 samples per run: 200 / 200 / 62 / 31 epochs). One seed at every size first,
# then seeds 1-2 at 1k and 4k. Every step is resumable (finished runs are skipped, an
# interrupted run resumes from its last epoch), so the chain can be stopped and started again:
#   bash benchmarks/voxel_qm9_scale.sh [OUT]   (default runs/qm9_scale; one core, ~1 day)
# Summary at any time:
#   python benchmarks/voxel_study_results.py --study OUT --name voxel_study_qm9_scale ...
set -euo pipefail
OUT=${1:-runs/qm9_scale}
export OMP_NUM_THREADS=1
study() {
  python -m rhoml bench voxel-study --dataset qm9 --targets gap,U0,mu --n-val 500 --n-test 2000 \
    --out "$OUT" --samples-per-run 1000000 --min-epochs 20 --max-epochs 200 --batch-size 32 \
    --threads 1 --workers 2 --quiet "$@"
}
study --sizes 1000 --seeds 1
study --sizes 4000 --seeds 1
study --sizes 16000 --seeds 1
study --sizes 32000 --seeds 1
study --sizes 1000,4000 --seeds 3
