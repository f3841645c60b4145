#!/bin/sh
# lrdif GPU kit: runs lrdif's self-test and benchmarks on this machine's GPU, with nothing
# installed beforehand (no Node, no npm, no network). Usage:
#
#   sh run.sh OUT_DIR [--quick]
#
# Writes into OUT_DIR (created if needed):
#   info.json          the WebGPU adapter: description, features, limits   (lrdif info --json)
#   selftest.json      every op against float64 references, every kernel variant, LRDif training
#                      and inference (lrdif selftest --json; --quick: the quick subset)
#   bench.json         the benchmark suites (lrdif bench; --quick: a short subset)
#   pytorch-cuda.json  the PyTorch peer of the LRDif steps on CUDA, f32 with TF32 off and
#                      PyTorch's default, when python3 here has PyTorch with CUDA
#   summary.txt        the summary table, also printed here
#   *.log              each step's own output
# Exit status: 0 when every step ran and the self-test passed.
#
# What it needs from the machine: x86-64 Linux with glibc ≥ 2.34, a GPU driver with Vulkan,
# xz or python3 (to unpack Node). It brings Node, dawn.node, Debian's Vulkan loader (used only
# when the machine has none) and libstdc++ (used only when the machine's is too old for
# dawn.node).
set -eu

usage() {
  echo "usage: sh run.sh OUT_DIR [--quick]" >&2
  exit 2
}

[ $# -ge 1 ] || usage
OUT=$1
shift
QUICK=
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    *) usage ;;
  esac
done

KIT=$(cd "$(dirname "$0")" && pwd)
APP=$KIT/app
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lrdif-kit.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() {
  echo "run.sh: $*"
}

START=$(date +%s)
elapsed() {
  echo $(($(date +%s) - START))
}

# ---------------------------------------------------------------- Node
if command -v xz >/dev/null 2>&1; then
  xz -dc "$KIT/node.xz" >"$TMP/node"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import lzma' >/dev/null 2>&1; then
  python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$KIT/node.xz" "$TMP/node"
else
  echo "run.sh: error: cannot unpack node.xz: neither xz nor python3 with its lzma module is installed (install xz-utils, or run the kit where python3 is)" >&2
  exit 1
fi
chmod +x "$TMP/node"
NODE=$TMP/node
say "node $("$NODE" --version)"

# ---------------------------------------------------------------- Vulkan loader and driver
HAVE_LOADER=
for ldc in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
  if command -v "$ldc" >/dev/null 2>&1 || [ -x "$ldc" ]; then
    if "$ldc" -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then HAVE_LOADER=1; fi
    break
  fi
done
if [ -z "$HAVE_LOADER" ]; then
  LD_LIBRARY_PATH="$KIT/lib/vulkan${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
  say "no Vulkan loader on this machine (ldconfig -p lists no libvulkan.so.1): using the kit's (Debian's libvulkan1)"
fi

# a driver manifest in the places the loader looks by default; NVIDIA's images may keep theirs
# in /usr/local/nvidia only
HAVE_ICD=
if [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  HAVE_ICD=1
else
  DIRS="/usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d /etc/vulkan/icd.d"
  for d in $(echo "${XDG_DATA_DIRS:-}" | tr ':' ' '); do DIRS="$DIRS $d/vulkan/icd.d"; done
  for d in $DIRS; do
    for f in "$d"/*.json; do
      if [ -f "$f" ]; then HAVE_ICD=1; fi
    done
  done
fi
NVIDIA_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "$HAVE_ICD" ] && [ -f "$NVIDIA_ICD" ]; then
  VK_DRIVER_FILES=$NVIDIA_ICD
  VK_ICD_FILENAMES=$NVIDIA_ICD
  export VK_DRIVER_FILES VK_ICD_FILENAMES
  say "no Vulkan driver manifest in the usual places: using NVIDIA's ($NVIDIA_ICD)"
elif [ -z "$HAVE_ICD" ]; then
  say "warning: no Vulkan driver manifest found (usual places, $NVIDIA_ICD); lrdif info will say whether an adapter appears"
fi
XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$TMP}
export XDG_RUNTIME_DIR

# ---------------------------------------------------------------- dawn.node loads?
DAWN=$APP/node_modules/webgpu/dist/linux-x64/dawn.node
if ! "$NODE" -e 'require(process.argv[1])' "$DAWN" 2>"$TMP/dawn.err"; then
  if grep -q 'GLIBCXX\|CXXABI' "$TMP/dawn.err"; then
    LD_LIBRARY_PATH="$KIT/lib/cxx${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LD_LIBRARY_PATH
    say "this machine's libstdc++ is older than dawn.node needs: using the kit's"
    if ! "$NODE" -e 'require(process.argv[1])' "$DAWN" 2>"$TMP/dawn.err"; then
      echo "run.sh: error: dawn.node does not load even with the kit's libstdc++:" >&2
      cat "$TMP/dawn.err" >&2
      exit 1
    fi
  else
    echo "run.sh: error: dawn.node does not load on this machine (it needs glibc ≥ 2.34):" >&2
    cat "$TMP/dawn.err" >&2
    exit 1
  fi
fi

lrdif() {
  "$NODE" "$APP/lrdif.mjs" "$@"
}

FAILED=

# ---------------------------------------------------------------- 1. the adapter
say "[1/5] lrdif info ($(elapsed) s)"
if ! lrdif info --json >"$OUT/info.json" 2>"$OUT/info.log"; then
  echo "run.sh: error: lrdif info failed (no WebGPU adapter?):" >&2
  cat "$OUT/info.log" >&2
  exit 1
fi
lrdif info 2>/dev/null | head -8

# ---------------------------------------------------------------- 2. the self-test
say "[2/5] lrdif selftest${QUICK:+ --quick} ($(elapsed) s)"
if lrdif selftest ${QUICK:+--quick} --json >"$OUT/selftest.json" 2>"$OUT/selftest.log"; then
  :
else
  FAILED="$FAILED selftest"
  say "the self-test failed (details in selftest.json and the summary below)"
fi

# ---------------------------------------------------------------- 3. benchmarks
if [ -n "$QUICK" ]; then
  BENCH="--quick softmax layernorm lrdif"
else
  BENCH="--quick --gpu-sizes matmul softmax layernorm conv channel-attention-b window-attention-b gdfn-b ddpm lrdif"
fi
say "[3/5] lrdif bench --no-peers $BENCH ($(elapsed) s)"
# shellcheck disable=SC2086 # the list is meant to split
if ! lrdif bench --no-peers --out "$OUT/bench.json" $BENCH >"$OUT/bench.log" 2>&1; then
  FAILED="$FAILED bench"
  say "the benchmarks failed: the end of bench.log:"
  tail -20 "$OUT/bench.log"
fi

# ---------------------------------------------------------------- 4. PyTorch on CUDA
say "[4/5] PyTorch peer ($(elapsed) s)"
if command -v python3 >/dev/null 2>&1 && python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
  if [ -n "$QUICK" ]; then PEER="--batches 8 --samples 3"; else PEER="--batches 8,64 --samples 5"; fi
  # shellcheck disable=SC2086
  if ! python3 "$APP/lrdif_torch_peer.py" --suite "$APP/lrdif-configs.json" --out "$OUT/pytorch-cuda.json" --device cuda $PEER >"$OUT/pytorch-cuda.log" 2>&1; then
    FAILED="$FAILED pytorch"
    say "the PyTorch peer failed: the end of pytorch-cuda.log:"
    tail -20 "$OUT/pytorch-cuda.log"
  fi
else
  WHY="python3 here has no PyTorch with CUDA (python3 -c 'import torch; assert torch.cuda.is_available()' fails)"
  command -v python3 >/dev/null 2>&1 || WHY="no python3 here"
  printf '{"skipped": "%s"}\n' "$WHY" >"$OUT/pytorch-cuda.json"
  say "skipped: $WHY"
fi

# ---------------------------------------------------------------- 5. summary
say "[5/5] summary ($(elapsed) s)"
lrdif kit-summary "$OUT" >"$OUT/summary.txt" 2>&1 || true
cat "$OUT/summary.txt"
say "done in $(elapsed) s; results in $OUT"
if [ -n "$FAILED" ]; then
  say "failed:$FAILED"
  exit 1
fi
