#!/usr/bin/env bash
# One GPU session, prepared on the CPU and sent as one command: the CUDA tests, the speed table
# (course pipeline, eager engine, captured, compiled, compiled and captured, the gate), the gate on
# CUDA for model1-model5, a search sweep, then the public solutions; each part with its own time
# limit, so a part that fails or runs long leaves the others' results. Writes under $OUT.
#
#   OUT=/tmp/gpu MNIST8K_DATA_DIR=$PWD/.data bash benchmarks/gpu_session.sh
#   PARTS="tests bench seeds" ...   # the CUDA tests, the speed table, five seeds back to back (about 11 minutes)
set -u
OUT="${OUT:-/tmp/gpu-session}"
mkdir -p "$OUT"
py="${PYTHON:-python3}"
export MNIST8K_DATA_DIR="${MNIST8K_DATA_DIR:-$PWD/.data}"
export CUBLAS_WORKSPACE_CONFIG=:4096:8
part() { local name=$1 limit=$2; shift 2; echo "==== $name (limit ${limit}s): $*"; local t=$SECONDS
  timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1; echo "==== $name: exit $? after $((SECONDS - t)) s"; tail -n 25 "$OUT/$name.txt"; }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
"$py" -c 'import torch, sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "python", sys.version.split()[0])' | tee -a "$OUT/gpu.txt"

want() { [[ " ${PARTS:-tests bench seeds gate sweep public} " == *" $1 "* ]]; }
want tests && part tests "${TESTS_S:-180}" "$py" -m pytest -q -p no:cacheprovider tests/test_graphs.py -m "not compliance" -k "${TESTS_K:-cuda}"
want bench && part bench "${BENCH_S:-330}" "$py" benchmarks/pipeline.py --device cuda --in-process --eager \
  --compiled --out "$OUT/bench"
want seeds && part seeds "${SEEDS_S:-300}" "$py" benchmarks/seeds.py --device cuda --seeds 0,1,2,3,4 --compile on \
  --check-alone --out "$OUT/seeds"
want gate && part gate 100 "$py" -m pytest -p no:cacheprovider -m compliance --device cuda -n 5 --unclaimed=train \
  --candidates='model*' --results-dir="$OUT/gate"
want sweep && part sweep "${SWEEP_S:-200}" "$py" experiments/sweep.py --device cuda --workers "${SWEEP_WORKERS:-4}" \
  --budget-s "$(( ${SWEEP_S:-200} - 30 ))" --jobs-file experiments/frontier_jobs.txt --out "$OUT/sweep.jsonl"
want public && part public "${PUBLIC_S:-200}" "$py" -m pytest -p no:cacheprovider -m compliance --device cuda -n 8 \
  --unclaimed=train --candidates="${PUBLIC:-pub_*}" --seeds=0,1,2 --results-dir="$OUT/public"
echo "==== done"
