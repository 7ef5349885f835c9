#!/usr/bin/env bash
# Primitive-equation speed, assim next to dinosaur (PyPI, JAX) on the same machine and case:
# the Held-Suarez run from rest (10 model days; equidistant sigma layers, the same grid and time
# step), one core (taskset -c 0) and two. assim: integration seconds per model day of
# `assim simulate` (best of REPS runs). dinosaur: best daily time after a compile day
# (benches/dinosaur_pe.py speed; f64, IMEX RK SIL3, three implicit stages per step).
# Usage: benches/pe_side_by_side.sh [REPS] [VENV] ["T L DT_MIN" ...]
#   (VENV outside the repo; created if missing; default cases "21 10 30" "31 8 30" "42 20 20")
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
venv=${2:-/tmp/assim-dinosaur-venv}
shift $(( $# < 2 ? $# : 2 ))
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=("21 10 30" "31 8 30" "42 20 20")
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q dinosaur
fi
cargo build --release -q -p assim-cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for c in "${cases[@]}"; do
  read -r t l dtm <<<"$c"
  dt=$((dtm * 60))
  cat > "$tmp/hs.toml" <<TOML
name = "bench_hs_t${t}l${l}"
[model]
kind = "primitive_dry"
truncation = $t
levels = $l
dt_seconds = $dt
[initial]
case = "rest"
[forcing.held_suarez]
[run]
days = 10
output_interval_hours = 240
TOML
  for threads in 1 2; do
    cpus=$([ "$threads" = 1 ] && echo 0 || echo 0,1)
    best=""
    for _ in $(seq "$reps"); do
      s=$(RAYON_NUM_THREADS=$threads taskset -c "$cpus" ./target/release/assim simulate "$tmp/hs.toml" \
            --out "$tmp/o.zarr" --force --quiet | sed -n 's/.*integration \([0-9.]*\) s per model day.*/\1/p')
      best=$(python3 -c "print(min(float(x) for x in '$best $s'.split()))")
    done
    echo "assim    HS T$t L$l dt=${dtm} min threads=$threads: $best s per model day"
    if [ "$threads" = 1 ]; then
      xla="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    else
      xla=""
    fi
    XLA_FLAGS="$xla" taskset -c "$cpus" "$venv/bin/python" benches/dinosaur_pe.py speed "$t" "$l" "$dtm" 6 2>/dev/null \
      | sed "s/^/threads=$threads /"
  done
done
