#!/usr/bin/env bash
# One device session: CUDA tests, the GPU benchmark rows, then the Omniglot checkpoints
# (MAML, first-order MAML, ANIL trained side by side on the one GPU) and their card reports.
# Usage (on a CUDA machine, from the repo root): OUT=dir MINUTES=5 ITERATIONS=3000 bash bench/gpu_session.sh
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD"
OUT=${OUT:-/tmp/gpu_session}; MINUTES=${MINUTES:-5}; ITERATIONS=${ITERATIONS:-3000}
DATA=${DATA:-.data/omniglot/images_background_small1.zip .data/omniglot/images_background_small2.zip}
mkdir -p "$OUT/work"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/work/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/work/gpu.txt"
python3 -m pytest tests/test_cuda.py -q -p no:cacheprovider 2>&1 | tail -3 | tee "$OUT/work/cuda_tests.log"
python3 -m bench.meta_gradient --device cuda --workloads W2 --steps 1 5 --algorithms maml fomaml \
  --repeats 5 --json > "$OUT/work/bench_cuda_w2.json" 2> "$OUT/work/bench_cuda.log"
python3 -m bench.meta_gradient --device cuda --workloads W1 --steps 1 --algorithms maml fomaml \
  --repeats 5 --json > "$OUT/work/bench_cuda_w1.json" 2>> "$OUT/work/bench_cuda.log"
cat "$OUT/work/bench_cuda.log"
# The Makefile's character recipe, with more iterations: the cosine decay of β spans ITERATIONS, so
# pick ITERATIONS to fit MINUTES (--max-minutes only guards the budget). MAML keeps the Makefile's
# share of first-order warm start, 1,200 of 2,800 iterations.
for algo in maml fomaml anil; do
  warm=(); [ "$algo" = maml ] && warm=(--first-order-iterations $((ITERATIONS * 3 / 7)))
  python3 -m core.train --task omniglot --algo "$algo" --iterations "$ITERATIONS" --max-minutes "$MINUTES" \
    --augment --mirror-classes --train-steps 3 --query 5 --schedule cosine --validate-every 250 \
    --validation-tasks 100 --data $DATA --device cuda --out "$OUT/work/omniglot_$algo.pt" "${warm[@]}" \
    > "$OUT/work/train_$algo.log" 2>&1 &
done
wait
for algo in maml fomaml anil; do
  tail -2 "$OUT/work/train_$algo.log"
  python3 -m core.evaluate --checkpoint "$OUT/work/omniglot_$algo.pt" --report --data $DATA --device cuda \
    --json > "$OUT/work/report_$algo.json" 2> "$OUT/work/report_$algo.log" &
done
wait
rm -f "$OUT"/work/*.state.pt
tar -C "$OUT/work" -czf "$OUT/session.tar.gz" .
rm -rf "$OUT/work"
