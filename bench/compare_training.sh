#!/usr/bin/env bash
# Training throughput (one epoch, batch 32 and 256) of the LSTM and the attention-LSTM in fluxkit against the
# same models in Debian's python3-torch, same threads and number of windows; plus inference throughput.
#   bench/compare_training.sh        (needs python3-torch: apt-get install python3-torch)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
THREADS="$(nproc)"
OUT="$(mktemp -d)"
export OMP_WAIT_POLICY=PASSIVE
"$SRC/build/bench/bench_models" --benchmark_out="$OUT/fluxkit.json" --benchmark_out_format=json >"$OUT/fluxkit.log" 2>&1
WINDOWS="$(/usr/bin/python3 -c "
import json; d = json.load(open('$OUT/fluxkit.json'))
b = [x for x in d['benchmarks'] if x['name'].startswith('BM_TrainEpoch_lstm')][0]
print(int(round(b['samples/s'] * b['real_time'])))")"
/usr/bin/python3 "$SRC/bench/train_throughput_torch.py" --windows "$WINDOWS" --threads "$THREADS" >"$OUT/python.jsonl"
/usr/bin/python3 - "$OUT/fluxkit.json" "$OUT/python.jsonl" "$WINDOWS" "$THREADS" <<'PY'
import json, sys
fk = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
py = [json.loads(l) for l in open(sys.argv[2])]
print(f"{sys.argv[3]} windows of [4, 14], {sys.argv[4]} threads; samples/s")
print(f"{'':34s} {'fluxkit':>10s} {'python':>10s} {'ratio':>7s}")
for p in py:
    if "batch" in p:
        name = f"BM_TrainEpoch_{p['model']}/{p['batch']}/iterations:1/real_time"
        f = fk[name]["samples/s"]
        print(f"train {p['model']:>16s} batch {p['batch']:<4d} {f:10.0f} {p['train_samples_per_s']:10.0f} {f / p['train_samples_per_s']:6.2f}x")
    else:
        name = f"BM_Predict_{p['model']}/iterations:3/real_time"
        f = fk[name]["samples/s"]
        print(f"predict {p['model']:>25s} {f:10.0f} {p['predict_samples_per_s']:10.0f} {f / p['predict_samples_per_s']:6.2f}x")
for name in ("BM_Predict_mlp", "BM_Predict_xgboost"):
    b = fk[f"{name}/iterations:3/real_time"]
    print(f"predict {name[11:]:>25s} {b['samples/s']:10.0f}")
PY
rm -rf "$OUT"
