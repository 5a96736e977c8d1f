#!/usr/bin/env bash
# Time `fluxkit figures` on the demo run (run `make demo` first) and list the seconds of every figure.
#
#   bench/figures_demo.sh [THREADS]        # default 2 (the budget: every demo figure in under 60 s on 2 cores)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
FLUXKIT="${FLUXKIT:-$SRC/build/fluxkit}"
THREADS="${1:-2}"
CONFIG="${DEMO_CONFIG:-configs/demo.toml}"
cd "$SRC"
if [[ ! -f demo/evaluation/metrics.csv ]]; then
  echo "no demo run: run make demo first" >&2
  exit 2
fi
OUT="$(mktemp -d /tmp/fluxkit_figures_bench.XXXXXX)"
/usr/bin/time -f "%e %U %S %M" -o "$OUT/time" "$FLUXKIT" figures --config "$CONFIG" --output-dir "$OUT/figures" \
  --threads "$THREADS" --verbosity warn
read -r s u sys kb <"$OUT/time"
/usr/bin/python3 - "$OUT/figures/figures.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
fams = {}
for f in m["figures"]:
    fams.setdefault(f["family"], []).append(f["seconds"])
for k, v in fams.items():
    print(f"  {k:<12} {len(v):3d} figures, {sum(v):6.1f} s of drawing")
print(f"  {len(m['figures'])} figures, {len(m['skipped'])} skipped, {m['jobs']} processes")
PYEOF
printf 'fluxkit figures (demo, %s threads): %.1f s wall, %.1f s CPU, peak %d MB per process\n' "$THREADS" "$s" \
  "$(echo "$u + $sys" | bc)" "$((kb / 1024))"
rm -rf "$OUT"
