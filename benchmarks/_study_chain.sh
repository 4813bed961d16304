# Shared start of the long-study chain scripts (sourced, not run):
#   . "$(dirname "$0")/_study_chain.sh"; study_chain_args DEFAULT_OUT "$@"
# sets MODE (run | publish) and OUT from the script's arguments ([publish] [OUT]), stops with one
# line when rhoml cannot be imported, and runs torch and BLAS on one thread.
set -euo pipefail
study_chain_args() {
  python -c "import rhoml" 2>/dev/null || {
    echo "$0: rhoml is not importable; run '. .venv/bin/activate' first" >&2; exit 2; }
  local default_out=$1; shift
  MODE=run
  if [ "${1:-}" = publish ]; then MODE=publish; shift; fi
  OUT=${1:-$default_out}
  export OMP_NUM_THREADS=1
}
