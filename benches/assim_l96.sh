#!/usr/bin/env bash
# Wall time of every method of experiments/l96_sakov2008.toml, per 1001 cycles, best of
# REPEATS runs (default 3) to damp the noise of a shared machine. Prints a CSV:
#   method,rmse_a,best_wall_s_per_1001_cycles
# Usage: benches/assim_l96.sh [EXPERIMENT] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
exp=${1:-experiments/l96_sakov2008.toml}
repeats=${2:-3}
cargo build --release -q -p assim-cli
tmp=$(mktemp -d)
for r in $(seq "$repeats"); do
  ./target/release/assim run "$exp" --out "$tmp/run$r" --quiet > /dev/null
done
# metrics.csv "mean" rows: method,seed,rmse_a,...,wall_s (column 9) over Ko+1 cycles.
n_cycles=$(grep -o '"n_analyses": [0-9]*' "$tmp/run1/metrics.json" | grep -o '[0-9]*$')
echo "method,rmse_a,best_wall_s_per_1001_cycles"
for r in $(seq "$repeats"); do
  awk -F, -v n="$n_cycles" 'NR > 1 && $2 == "mean" { printf "%s,%s,%.4f\n", $1, $3, $9 / n * 1001 }' "$tmp/run$r/metrics.csv"
done | awk -F, '{ if (!($1 in best) || $3 < best[$1]) { best[$1] = $3; rmse[$1] = $2 }; if (!($1 in order)) { order[$1] = ++k; names[k] = $1 } }
  END { for (i = 1; i <= k; i++) printf "%s,%s,%s\n", names[i], rmse[names[i]], best[names[i]] }'
rm -rf "$tmp"
