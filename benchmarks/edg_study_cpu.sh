#!/usr/bin/env bash
# Issue 13 item 7, CPU scale: the EDG study of configs/edg_study_cpu.toml (5 rMD17 molecules and
# 4 QM9 targets × SchNet and PaiNN, plain vs EDG, λ swept on validation, 3 seeds: 180 runs,
# ~35 CPU-hours on one core). Resumable: finished runs are skipped, an interrupted run resumes.
#   bash benchmarks/edg_study_cpu.sh [OUT]          (default runs/edg_study_cpu)
# Finished runs are kept in the repository (benchmarks/results/edg_study_cpu_runs/, their
# result.json files) and restored into OUT first, so a fresh checkout continues; the run under
# way is saved whole (checkpoints, ~3 MB, in partial/) and resumes from its last epoch. Publish what
# has finished (saves the result files, writes benchmarks/results/edg_study_cpu.{json,md,png}):
#   bash benchmarks/edg_study_cpu.sh publish [OUT]
. "$(dirname "$0")/_study_chain.sh"
study_chain_args runs/edg_study_cpu "$@"
SAVED=benchmarks/results/edg_study_cpu_runs
CONFIG=configs/edg_study_cpu.toml
if [ "$MODE" = publish ]; then
  python benchmarks/study_results_sync.py save --partial "$OUT" "$SAVED"
  python benchmarks/edg_study_results.py --config "$CONFIG" --study "$OUT" --name cpu \
    --command "bash benchmarks/edg_study_cpu.sh (rhoml bench edg-study $CONFIG --out $OUT)" \
    --note "${NOTE:-}"
  exit 0
fi
python benchmarks/study_results_sync.py restore "$SAVED" "$OUT"
python -m rhoml bench edg-study "$CONFIG" --out "$OUT" --quiet
