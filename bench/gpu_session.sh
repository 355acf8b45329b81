#!/usr/bin/env bash
# One device session in one command: the Omniglot checkpoints (MAML, first-order MAML, ANIL trained
# side by side on the one GPU) and their card reports, the CUDA tests, then the GPU benchmark rows if
# time is left. Everything ends by itself within DEADLINE seconds, so that a caller's time limit never
# cuts off the results: they come back as $OUT/session.tar.gz (the bench JSON beside it).
# Usage (on a CUDA machine, from the repo root): OUT=dir DEADLINE=560 bash bench/gpu_session.sh
#
# RUNS (default "maml fomaml anil") names the runs: an algorithm, or NAME=ALGORITHM for a variant, e.g.
# RUNS="maml1=maml" FLAGS_maml1="--support 1" trains MAML on 1-shot episodes. ITERATIONS_NAME fixes a
# run's iterations instead of calibrating them (e.g. to match what the CPU recipe can train in an hour).
# MAML runs take first-order MAML's gradient for the first 3/7 of their iterations, as the Makefile's.
#
# The cosine decay of β spans the run's iterations, so they are fixed before it starts: each
# algorithm first trains CALIBRATE="20 80" iterations (side by side, as in the real run, MAML at
# second order throughout), and the real run takes (80 − 20) / (wall time of 80 − wall time of 20)
# iterations per second, for the seconds left after reserving REPORT_SECONDS for the reports and
# tests and BENCH_SECONDS for the benchmark.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" OMP_NUM_THREADS=4  # per training process; the benchmark takes all
OUT=${OUT:-/tmp/gpu_session}; DEADLINE=${DEADLINE:-560}; DEVICE=${DEVICE:-cuda}
REPORT_SECONDS=${REPORT_SECONDS:-110}; BENCH_SECONDS=${BENCH_SECONDS:-50}; CALIBRATE=${CALIBRATE:-"20 80"}
RUNS=${RUNS:-"maml fomaml anil"}
name_of() { echo "${1%%=*}"; }
algo_of() { echo "${1#*=}"; }
setting() { local variable="$1_$2"; echo "${!variable:-}"; }  # setting FLAGS maml5 → $FLAGS_maml5
DATA=${DATA:-.data/omniglot/images_background_small1.zip .data/omniglot/images_background_small2.zip}
WORK=$(mktemp -d); mkdir -p "$OUT"
# The Makefile's character recipe, read from the Makefile itself (`make -s print-OMNIGLOT_RECIPE`), so both train
# the same thing; only the iterations (and MAML's warm start, the same 3/7 share) differ. FLAGS_<name> adds flags
# to a run of this script (a variant): they come last, so they override the recipe's.
RECIPE="$(make -s print-OMNIGLOT_RECIPE) --val-alphabets 2 --data $DATA --device $DEVICE --quiet"
finish() { rm -f "$WORK"/*.state.pt "$WORK"/calibrate_*.pt; tar -C "$WORK" -czf "$OUT/session.tar.gz" .; }
trap finish EXIT
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  python3 -c "import torch; print('torch', torch.__version__)"; } | tee "$WORK/gpu.txt"

for run in $RUNS; do
  name=$(name_of "$run"); algo=$(algo_of "$run")
  [ -n "$(setting ITERATIONS "$name")" ] && continue
  python3 - "$name" "$algo" "$WORK" $CALIBRATE $RECIPE $(setting FLAGS "$name") > "$WORK/calibrate_$name.txt" \
    2> "$WORK/calibrate_$name.log" <<'EOF' &
import contextlib, json, sys
from core.train import main
name, algo, work, recipe = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[6:]
short, long = int(sys.argv[4]), int(sys.argv[5])
walls, strategy = [], []
for n in (short, long):
    out = f"{work}/calibrate_{name}_{n}.pt"
    with contextlib.redirect_stdout(sys.stderr):
        failed = main(recipe + ["--algo", algo, "--iterations", str(n), "--validate-every", str(n), "--out", out] + strategy)
    if failed:
        sys.exit(f"calibration of {name} failed")
    card = json.load(open(out + ".json"))
    walls.append(card["wall_time_s"])
    strategy = ["--strategy", card["strategy"]]  # measured once, by the first run
print((long - short) / max(walls[1] - walls[0], 0.1), card["strategy"])
EOF
done
wait
TRAIN_SECONDS=$((DEADLINE - SECONDS - REPORT_SECONDS - BENCH_SECONDS - 20))
echo "calibrated at ${SECONDS} s; training for ${TRAIN_SECONDS} s" | tee "$WORK/plan.txt"
for run in $RUNS; do
  name=$(name_of "$run"); algo=$(algo_of "$run"); iterations=$(setting ITERATIONS "$name"); strategy=()
  if [ -z "$iterations" ]; then
    read -r rate measured < "$WORK/calibrate_$name.txt"; strategy=(--strategy "$measured")
    iterations=$(python3 -c "print(max(int($rate * $TRAIN_SECONDS) // 50 * 50, 50))")
  fi
  warm=(); [ "$algo" = maml ] && warm=(--first-order-iterations $((iterations * 3 / 7)))
  echo "$name: $algo $(setting FLAGS "$name"), $iterations iterations ${warm[*]}${rate:+ (calibrated $rate it/s, ${strategy[*]})}" \
    | tee -a "$WORK/plan.txt"; rate=
  python3 -m core.train $RECIPE $(setting FLAGS "$name") --algo "$algo" --iterations "$iterations" "${strategy[@]}" \
    --validate-every $((iterations / 10 > 50 ? iterations / 10 : 50)) --max-minutes "$(python3 -c "print($TRAIN_SECONDS / 60 * 1.1)")" \
    --out "$WORK/omniglot_$name.pt" "${warm[@]}" > "$WORK/train_$name.log" 2>&1 &
done
wait
echo "trained at ${SECONDS} s" | tee -a "$WORK/plan.txt"
for run in $RUNS; do
  name=$(name_of "$run")
  timeout $((REPORT_SECONDS - 10)) python3 -m core.evaluate --checkpoint "$WORK/omniglot_$name.pt" --report \
    --data $DATA --device "$DEVICE" --json > "$WORK/report_$name.json" 2> "$WORK/report_$name.log" &
done
timeout $((REPORT_SECONDS - 10)) python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider > "$WORK/cuda_tests.log" 2>&1 &
wait || true
tail -3 "$WORK/cuda_tests.log"
echo "reported at ${SECONDS} s" | tee -a "$WORK/plan.txt"
LEFT=$((DEADLINE - SECONDS - 5))
if [ "$BENCH_SECONDS" -gt 0 ] && [ "$LEFT" -gt 20 ]; then  # BENCH_SECONDS=0: no benchmark
  timeout "$LEFT" env -u OMP_NUM_THREADS python3 -m bench.meta_gradient --device "$DEVICE" --workloads W2 --steps 1 5 \
    --algorithms maml fomaml --repeats 5 --json > "$OUT/bench_cuda_w2.json" 2> "$WORK/bench_cuda.log" || true
fi
echo "done at ${SECONDS} s" | tee -a "$WORK/plan.txt"
