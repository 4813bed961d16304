#!/usr/bin/env bash
# Issue 16 item 1: QM9 voxel learning curves at 1k / 4k / 16k / 32k training molecules, every
# run trained to convergence on a fixed budget: a half-cosine learning-rate schedule over 200 /
# 100 / 50 / 30 epochs (no early stopping; the test uses the best validation epoch). One seed
# at every size first, then seeds 1-2 at 1k and 4k. Every step is resumable (finished runs are
# skipped, an interrupted run resumes from its last epoch), so the chain can be stopped and
# started again:
#   bash benchmarks/voxel_qm9_scale.sh [OUT]    (default runs/qm9_scale; one core, ~40 CPU-hours)
# Finished runs are kept in the repository (benchmarks/results/voxel_study_qm9_scale_runs/, their
# result.json files) and restored into OUT first, so a fresh checkout continues where the last
# session stopped; the run under way is saved whole (its checkpoints, a few MB, in partial/) and
# resumes from its last epoch, since runs at 16k-32k take longer than a session. Publish what has
# finished (saves the result files and the unfinished run, writes
# benchmarks/results/voxel_study_qm9_scale.{json,md,png}):
#   bash benchmarks/voxel_qm9_scale.sh publish [OUT]
. "$(dirname "$0")/_study_chain.sh"
study_chain_args runs/qm9_scale "$@"
SAVED=benchmarks/results/voxel_study_qm9_scale_runs
ARGS=(--dataset qm9 --targets gap,U0,mu --n-val 500 --n-test 2000 --out "$OUT"
      --scheduler cosine --patience 0 --samples-per-run 100000000 --min-epochs 1
      --batch-size 32 --threads 1 --workers 2 --quiet)
study() { python -m rhoml bench voxel-study "${ARGS[@]}" "$@"; }
if [ "$MODE" = publish ]; then
  python benchmarks/study_results_sync.py save --partial "$OUT" "$SAVED"
  study --sizes 1000,4000,16000,32000 --seeds 3 --max-epochs 200 --summary-only
  python benchmarks/voxel_study_results.py --study "$OUT" --name qm9_scale \
    --command "bash benchmarks/voxel_qm9_scale.sh: rhoml bench voxel-study ${ARGS[*]} --sizes S --seeds K --max-epochs E (S/E = 1000/200, 4000/100, 16000/50, 32000/30)" \
    --note "${NOTE:-}"
  exit 0
fi
python benchmarks/study_results_sync.py restore "$SAVED" "$OUT"
study --sizes 1000 --seeds 1 --max-epochs 200
study --sizes 4000 --seeds 1 --max-epochs 100
study --sizes 16000 --seeds 1 --max-epochs 50
study --sizes 32000 --seeds 1 --max-epochs 30
study --sizes 1000 --seeds 3 --max-epochs 200
study --sizes 4000 --seeds 3 --max-epochs 100
