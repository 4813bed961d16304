#!/usr/bin/env bash
# Issue 13 item 2: the xTB-image vs DFT-image ImageED ablation at CPU scale. The same 200 random
# QM9 molecules (seed 0) get GFN2-xTB and B3LYP/6-31G** densities, 112-px density images of each,
# one ImageED per image set, one ED-aware teacher per ImageED (same structural images), then
# SchNet students on QM9 gap and μ distilled from each teacher (configs/edg_ablation/*.toml).
# Resumable: every step skips or resumes what is done. ~3.5 CPU-hours on 1 thread (DFT ~1.5 h,
# the two ImageEDs 1 h, teachers 15 min, 26 students 40 min).
#   bash benchmarks/edg_ablation_cpu.sh            (from the repository root)
# then benchmarks/edg_ablation_results.py writes benchmarks/results/edg_ablation_cpu.{json,md}
# (NOTE="..." adds a paragraph under the table). Re-running a finished chain reproduces the
# results file exactly (checked 2026-12-08).
set -euo pipefail
OUT=runs/edg_abl
STORE=$OUT/qm9-200.rhoml
CFG=configs/edg_ablation
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
[ -f "$OUT/qm9_200.xyz" ] || python scripts/edg_small_molecules.py "$OUT/qm9_200.xyz" --n 200 --seed 0
rhoml density compute "$OUT/qm9_200.xyz" --method xtb --out "$STORE" --workers 1 --quiet
rhoml density compute "$OUT/qm9_200.xyz" --method dft --out "$STORE" --workers "${WORKERS:-1}" --quiet
rhoml render "$STORE" --preset edg-structure --set size=112 --workers 1 --quiet
rhoml render "$STORE" --preset edg-density --method xtb --set size=112 --workers 1 --quiet
rhoml render "$STORE" --preset edg-density --method dft --set size=112 --name dft --workers 1 \
  --quiet
for eng in xtb dft; do
  rhoml train "$CFG/imageed_$eng.toml" --out "$OUT/imageed-$eng" --quiet
  rhoml train "$CFG/teacher_$eng.toml" --out "$OUT/teacher-$eng" --quiet
done
# the plain students do not depend on the teacher: train them once, in the xTB arm
rhoml bench edg-study "$CFG/study_xtb.toml" --out "$OUT/study-xtb" --quiet
for plain in "$OUT"/study-xtb/runs/qm9/*/schnet/plain; do
  target=$(basename "$(dirname "$(dirname "$plain")")")
  mkdir -p "$OUT/study-dft/runs/qm9/$target/schnet"
  cp -rn "$plain" "$OUT/study-dft/runs/qm9/$target/schnet/"
done
rhoml bench edg-study "$CFG/study_dft.toml" --out "$OUT/study-dft" --quiet
python benchmarks/edg_ablation_results.py --out "$OUT" --note "${NOTE:-}"
