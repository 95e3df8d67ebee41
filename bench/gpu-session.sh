#!/bin/bash
# What issue #10 measures on a GPU machine, in one device call that carries only .devrun/
# (../shared/gpu/README.md). Prepare: bash ../shared/gpu/pack.sh, then (pack.sh's payload has no test/fixtures,
# which the bench's workload generator reads; it has the fixture's tokenizer and prompts, not an SAE config)
#   git show main:bench/gpu-session.sh > .devrun/gpu-session.sh
#   s=tiny-llama/saes/blocks.0.hook_resid_post; mkdir -p .devrun/fixtures/$s
#   git show main:test/fixtures/$s/cfg.json > .devrun/fixtures/$s/cfg.json
# run: bash .devrun/gpu-session.sh (timeout_s 580), then ALWAYS ../shared/gpu/restore.sh. In order of priority:
#   1. the large workload of gpu-check.sh (143.7M params, 65,280 tokens, SAE 16,384 x 3), runs in LARGE_RUNS order
#      (default: graph dense peer cuda checkpoint dense profile): the project on WebGPU on the dense path, the PyTorch
#      peer on CUDA, and also: checkpoint (the dense path with the models built from their model.safetensors, no ONNX
#      file: src/engine/model/checkpoint), bucket (the dense path with ONNX Runtime's default buffer cache), sparse (the sparse path),
#      profile (the dense path under ONNX Runtime's profiler, summed per session and operator),
#      graph (bench/saeGraphBench.ts: the dense SAE graph alone per chunk size, the products' TFLOP/s in the graph and alone, its operators),
#      cuda (onnxruntime-node's CUDA provider borrowed from the image's Python onnxruntime-gpu, see borrow_cuda);
#   2. with DOCTOR=1, `sae-diff doctor` on that workload: providers, SAE kernels against the CPU with ONNX
#      Runtime's node placements, the model's placements and its activations against the CPU's;
#   3. the 1B-class / 65k bench (Llama 3.2 1B shape, fp16, 65,536-wide SAEs at layers 5, 10, 15) on WebGPU:
#      tokens/s, stage times, peak host RSS and GPU memory. Its workload is generated in the background
#      from the start (single-threaded JavaScript), so that the call fits in the device budget.
# SAE_DIFF_KERNEL_CHECK=report: a kernel disagreement is printed and the GPU is still timed (the report says so).
# Everything goes to $OUT/gpu-session.log; logs and reports to $OUT/runs.tgz.
# END_AT (default 560): the second of the call by which the 1B bench must end.
# A dry run on a CPU machine: PROVIDER=cpu BENCH_ARGS="--hidden 64 ..." LARGE="HIDDEN=64 ..." SAE_DIFF_PROJECT=.
# (SKIP_LARGE=1 skips part 1 and 2).
set -u
D=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp}
exec > >(tee "$OUT/gpu-session.log") 2>&1
T() { echo "== +${SECONDS}s $*"; }
P=${SAE_DIFF_PROJECT:-/opt/sd/proj}
if [ ! -f "$P/bin/sae-diff.js" ]; then # not unpacked yet on this machine
  for f in "$D"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  mkdir -p /opt/sd && tar -xJf "$D/payload.tar.xz" -C /opt/sd
fi
[ -d /opt/sd/bin ] && export PATH=/opt/sd/bin:$PATH
[ -f "$P/test/fixtures/tiny-llama/base/tokenizer.json" ] || { mkdir -p "$P/test/fixtures" && cp -r "$D/fixtures/tiny-llama" "$P/test/fixtures/"; }
export SAE_DIFF_KERNEL_CHECK=report
R=/tmp/gpu-session-runs; rm -rf "$R"; mkdir -p "$R"; trap 'tar -czf "$OUT/runs.tgz" -C /tmp gpu-session-runs' EXIT
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
PROVIDER=${PROVIDER:-webgpu}
BENCH_ARGS=${BENCH_ARGS:---hidden 2048 --layers 16 --inter 8192 --heads 32 --kv-heads 8 --vocab 32000 --d-sae 65536 --sae-layers 5,10,15 --fp16 --prompts 16 --max-tokens 128}
BENCH_DIR=${BENCH_DIR:-/tmp/sae-diff-bench-gpu}
LARGE=${LARGE:-HIDDEN=1024 LAYERS=12 INTER=2816 HEADS=16 KV=8 DSAE=16384 SAE_LAYERS=3,7,11 NPROMPTS=256 MAXTOK=256}
T "1B workload: generating in the background"
# shellcheck disable=SC2086 # the sizes are separate arguments
node "$P/out/bench/bench.js" $BENCH_ARGS --provider cpu --no-peer --rounds 0 --out-dir "$BENCH_DIR" > "$R/generate-1b.log" 2>&1 &
GEN=$!

ours() { # name provider config [timeout] [storage buffer cache mode]
  local t0=$(date +%s.%N)
  SAE_DIFF_WEBGPU_BUFFER_CACHE=${5:-} timeout "${4:-150}" node "$P/bin/sae-diff.js" run "$3" --provider "$2" --out "$R/ours-$1.json" > "$R/ours-$1.log" 2>&1
  local rc=$?
  echo "RESULT ours $1 $2 rc=$rc wall=$(awk "BEGIN{print $(date +%s.%N) - $t0}")"
  grep -E 'timings|loaded:|execution provider|reduction:|SAE kernels|warning|buffer limit|device batching|error' "$R/ours-$1.log" | cut -c1-600 | head -20
  return $rc
}
# onnxruntime-node's CUDA provider is a download at install time, which this machine cannot make. The image's Python
# onnxruntime may be onnxruntime-gpu, whose wheel carries the same provider libraries (libonnxruntime_providers_cuda.so
# and _shared.so, loaded from the folder of libonnxruntime.so.1); PyTorch's pip wheels carry CUDA's and cuDNN's
# libraries (site-packages/nvidia/*/lib). A provider library of another ONNX Runtime version may refuse to load or
# crash; `sae-diff doctor` probes it in a child process, so the session goes on either way.
borrow_cuda() {
  local ortbin="$P/node_modules/onnxruntime-node/bin/napi-v6/linux/x64" capi site
  capi=$(python3 -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null)
  python3 -c 'import onnxruntime as o, torch; print("python onnxruntime", o.__version__, o.get_available_providers(), "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1
  echo "onnxruntime-node $(node -p "require('$P/node_modules/onnxruntime-node/package.json').version" 2>/dev/null)"
  [ -f "$capi/libonnxruntime_providers_cuda.so" ] || { echo "no CUDA provider library in the Python onnxruntime ($capi)"; return 1; }
  cp "$capi"/libonnxruntime_providers_cuda.so "$capi"/libonnxruntime_providers_shared.so "$ortbin"/ || return 1
  site=$(python3 -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))')
  LD_LIBRARY_PATH=$(ls -d "$site"/nvidia/*/lib 2>/dev/null | tr '\n' ':')${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH
  timeout 60 node "$P/bin/sae-diff.js" doctor 2>&1 | grep -i -E -A2 'cuda' | head -12
}
if [ -z "${SKIP_LARGE:-}" ]; then
  T "large workload: building"
  # shellcheck disable=SC2086 # LARGE is a list of assignments
  (cd "$D/bench" && env THREADS=16 $LARGE python3 make_bench_gpu.py /tmp/bl | tail -1)
  sed 's/runtime: { max_tokens: \([0-9]*\) }/runtime: { max_tokens: \1, reduction: sparse }/' /tmp/bl/bench.yaml > /tmp/bl/sparse.yaml
  for m in base sft; do # the same models as checkpoints: every file but the ONNX export
    mkdir -p /tmp/bl/ck/$m && for f in /tmp/bl/$m/*; do [ "${f##*/}" = model.onnx ] || ln -sf "$f" /tmp/bl/ck/$m/; done
  done
  sed 's#base: "base", sft: "sft"#base: "ck/base", sft: "ck/sft"#' /tmp/bl/bench.yaml > /tmp/bl/checkpoint.yaml
  for run in ${LARGE_RUNS:-graph dense peer cuda checkpoint dense profile}; do
    case $run in
      peer)
        T "large: PyTorch peer on CUDA"
        t0=$(date +%s.%N)
        DEVICE=cuda THREADS=16 timeout 120 python3 "$D/bench/torch_peer_dev.py" /tmp/bl 32 > "$R/peer-large-cuda.log" 2>&1
        echo "RESULT peer large-cuda rc=$? wall=$(awk "BEGIN{print $(date +%s.%N) - $t0}") $(grep -E '"(forward_s|sae_and_metrics_s|total_s)"' "$R/peer-large-cuda.log" | tr -d '\n ')" ;;
      dense)
        T "large: sae-diff on $PROVIDER (dense path; storage buffers cached by size)"
        ours "large-$PROVIDER-$SECONDS" "$PROVIDER" /tmp/bl/bench.yaml 120 ;;
      cuda)
        T "large: sae-diff on CUDA, its provider borrowed from Python's onnxruntime-gpu"
        (borrow_cuda && ours large-cuda cuda /tmp/bl/bench.yaml 120) ;; # a subshell: the library path stays with this run
      checkpoint)
        T "large: sae-diff on $PROVIDER, the models built from their safetensors checkpoints"
        ours large-$PROVIDER-checkpoint "$PROVIDER" /tmp/bl/checkpoint.yaml 90 ;;
      bucket)
        T "large: the same with ONNX Runtime's default buffer cache (bucket: nothing above 160 MiB kept)"
        ours large-$PROVIDER-bucket "$PROVIDER" /tmp/bl/bench.yaml 90 bucket ;;
      sparse)
        T "large: sparse path"
        ours large-$PROVIDER-sparse "$PROVIDER" /tmp/bl/sparse.yaml 80 ;;
      graph)
        T "the dense SAE graph alone (large workload's shapes), per chunk size, with its products alone (the rate ceiling; Gemm or MatMul); then per operator"
        timeout 100 node "$P/out/bench/saeGraphBench.js" --provider "$PROVIDER" --hidden 1024 --width 16384 --tokens 2048,8192,15360 --runs 3
        rm -rf /tmp/gpu-graph-prof && mkdir -p /tmp/gpu-graph-prof
        SAE_DIFF_ORT_PROFILE=/tmp/gpu-graph-prof timeout 60 node "$P/out/bench/saeGraphBench.js" --provider "$PROVIDER" --hidden 1024 --width 16384 --tokens 8192 --runs 2
        node "$P/out/bench/ortProfileSummary.js" /tmp/gpu-graph-prof 16 ;;
      profile)
        T "large: dense path under ONNX Runtime's profiler (slower): time per session and operator"
        rm -rf /tmp/gpu-prof && mkdir -p /tmp/gpu-prof
        SAE_DIFF_ORT_PROFILE=/tmp/gpu-prof ours large-$PROVIDER-profile "$PROVIDER" /tmp/bl/bench.yaml 150
        node "$P/out/bench/ortProfileSummary.js" /tmp/gpu-prof 12 ;;
    esac
  done
  [ -n "${DOCTOR:-}" ] && timeout 100 node "$P/bin/sae-diff.js" doctor /tmp/bl/bench.yaml
fi
T "1B workload: waiting for the generator"
wait $GEN
echo "generator exit $?"
tail -3 "$R/generate-1b.log"
T "1B bench on $PROVIDER: $BENCH_ARGS"
left=$((${END_AT:-560} - SECONDS)); [ "$left" -lt 60 ] && left=60
# shellcheck disable=SC2086 # the sizes are separate arguments
timeout "${BENCH_TIMEOUT:-$left}" node "$P/out/bench/bench.js" $BENCH_ARGS --provider "$PROVIDER" --no-peer --rounds 1 --out-dir "$BENCH_DIR"
T "end (exit $?)"
nvidia-smi --query-gpu=memory.used --format=csv,noheader 2>/dev/null
