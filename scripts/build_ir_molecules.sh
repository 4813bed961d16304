#!/bin/bash
# Item 7 of issue 14: DenSNet models of methanol, acetone and 2-propanol with `rhoml densnet
# build` (default settings), one after another, for the spectra against the gas-phase JCAMP files
# in ../shared/data/ir_gas_phase. Resumable: re-running continues every unfinished build.
#   OMP_NUM_THREADS=1 scripts/build_ir_molecules.sh runs/ir_molecules [python]
# Writes OUT/geometries/<name>.xyz (RDKit ETKDGv3 + MMFF from SMILES, only if absent),
# OUT/<name>/ (samples, labels.rhoml, config.toml, run/, report.md) and OUT/logs/<name>.log.
set -euo pipefail
OUT=${1:?usage: build_ir_molecules.sh OUT [python]}
PY=${2:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT/geometries" "$OUT/logs"
"$PY" - "$OUT/geometries" <<'PYEOF'
import sys
from pathlib import Path

from rhoml.io.xyz import write_xyz
from rhoml.md.sampling import build_molecule
from rhoml.molecule import Molecule

for name, smiles in [("methanol", "CO"), ("acetone", "CC(C)=O"), ("2-propanol", "CC(C)O")]:
    path = Path(sys.argv[1]) / f"{name}.xyz"
    if not path.exists():
        m = build_molecule(smiles)
        write_xyz(path, Molecule(m.numbers, m.positions, id=name))
PYEOF
for name in methanol acetone 2-propanol; do
  echo "$(date -u +%FT%TZ) building $name"
  "$PY" -m rhoml densnet build "$OUT/geometries/$name.xyz" --out "$OUT/$name" --name "$name" \
    --workers 1 --quiet > "$OUT/logs/$name.log" 2>&1 || echo "$name failed (see $OUT/logs/$name.log)"
  tail -1 "$OUT/logs/$name.log"
done
