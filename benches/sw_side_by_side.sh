#!/usr/bin/env bash
# Shallow-water speed, assim next to dinosaur (PyPI, JAX) on the same machine and case:
# Williamson case 6 at T21/T42/T63 with the same time steps, one core (taskset -c 0) and two.
# assim: integration seconds per model day of `assim simulate` (best of REPS runs, 10 model days
# each at T42). dinosaur: best of REPS timed days after a compile day (benches/dinosaur_sw.py).
# Usage: benches/sw_side_by_side.sh [REPS] [VENV] [TRUNC ...]   (VENV outside the repo; created
# if missing; truncations among 21 42 63, default all three)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
venv=${2:-/tmp/assim-dinosaur-venv}
truncs=${*:3}
truncs=${truncs:-21 42 63}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q dinosaur
fi
cargo build --release -q -p assim-cli
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in $truncs; do
  case $t in
    21) dt=2400 days=20 ;;
    42) dt=1200 days=10 ;;
    63) dt=800 days=4 ;;
    *) echo "unsupported truncation $t" >&2; exit 2 ;;
  esac
  cat > "$tmp/t$t.toml" <<TOML
name = "bench_t$t"
[model]
truncation = $t
dt_seconds = $dt
[initial]
case = "williamson6"
[run]
days = $days
output_interval_hours = $((days * 24))
TOML
  for threads in 1 2; do
    cpus=$([ "$threads" = 1 ] && echo 0 || echo 0,1)
    best=""
    for _ in $(seq "$reps"); do
      s=$(RAYON_NUM_THREADS=$threads taskset -c "$cpus" ./target/release/assim simulate "$tmp/t$t.toml" \
            --out "$tmp/o.zarr" --force --quiet | sed -n 's/.*integration \([0-9.]*\) s per model day.*/\1/p')
      best=$(python3 -c "print(min(float(x) for x in '$best $s'.split()))")
    done
    echo "assim    T$t f64 dt=${dt}s threads=$threads: $best s per model day"
    for prec in f64 f32; do
      if [ "$threads" = 1 ]; then
        xla="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
      else
        xla=""
      fi
      BENCH_THREADS=$threads XLA_FLAGS="$xla" taskset -c "$cpus" "$venv/bin/python" benches/dinosaur_sw.py "$t" "$dt" "$prec" "$reps" 2>/dev/null
    done
  done
done
