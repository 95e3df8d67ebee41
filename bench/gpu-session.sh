#!/bin/bash
# The measurements issue #10 still needs from a GPU machine, for a session whose device call carries only
# .devrun/ (../shared/gpu/README.md). Prepare: bash ../shared/gpu/pack.sh, then
#   git show main:bench/gpu-session.sh > .devrun/gpu-session.sh
# run: bash .devrun/gpu-session.sh (after .devrun/gpu-check.sh in the same call, or alone), then
# ../shared/gpu/restore.sh. It prints, into $OUT/gpu-session.log:
#   1. `sae-diff doctor`: which providers load, and for each GPU provider its SAE kernels against the CPU
#      with ONNX Runtime's node placements (which operators it leaves to the CPU), and the placements of the
#      bench model of gpu-check.sh (/tmp/bs) when that ran first (DOCTOR_CONFIG names another config);
#   2. the 1B-class / 65k bench (Llama 3.2 1B shape, fp16, 65,536-wide SAEs at layers 5, 10, 15) on
#      $PROVIDER (webgpu): tokens/s, stage times, peak host RSS and GPU memory.
# BENCH_ARGS replaces the sizes (a dry run on a CPU machine: PROVIDER=cpu BENCH_ARGS="--hidden 64 ...").
set -u
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp}
exec > >(tee "$OUT/gpu-session.log") 2>&1
P=${SAE_DIFF_PROJECT:-/opt/sd/proj}
if [ ! -f "$P/bin/sae-diff.js" ]; then # not unpacked yet by gpu-check.sh on this machine
  for f in "$D"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  mkdir -p /opt/sd && tar -xJf "$D/payload.tar.xz" -C /opt/sd
fi
[ -d /opt/sd/bin ] && export PATH=/opt/sd/bin:$PATH
PROVIDER=${PROVIDER:-webgpu}
BENCH_ARGS=${BENCH_ARGS:---hidden 2048 --layers 16 --inter 8192 --heads 32 --kv-heads 8 --vocab 32000 --d-sae 65536 --sae-layers 5,10,15 --fp16 --prompts 16 --max-tokens 128}
# the bench workload gpu-check.sh builds, when it ran first: its model's node placements on each GPU provider
DOCTOR_CONFIG=${DOCTOR_CONFIG:-$([ -f /tmp/bs/bench.yaml ] && echo /tmp/bs/bench.yaml)}
echo "== +${SECONDS}s doctor ${DOCTOR_CONFIG}"
timeout 300 node "$P/bin/sae-diff.js" doctor ${DOCTOR_CONFIG:+"$DOCTOR_CONFIG"}
echo "== +${SECONDS}s bench on $PROVIDER: $BENCH_ARGS"
# shellcheck disable=SC2086 # the sizes are separate arguments
timeout "${BENCH_TIMEOUT:-480}" node "$P/out/bench/bench.js" $BENCH_ARGS --provider "$PROVIDER" --no-peer --rounds 1 --out-dir "${BENCH_DIR:-/tmp/sae-diff-bench-gpu}"
echo "== +${SECONDS}s end (exit $?)"
