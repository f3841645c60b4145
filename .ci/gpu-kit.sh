#!/usr/bin/env bash
# CI: the GPU kit is self-contained. Builds it (npm run gpu-kit), unpacks the .tar.xz in a
# temporary folder outside the checkout and runs `run.sh OUT --quick` there on this machine's
# adapter (lavapipe) with a PATH that holds only the tools run.sh needs — no node, no npm, and
# no xz (so Node is unpacked by python3's lzma, the fallback) — then checks that every JSON file
# is there and readable and that the self-test passed.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run gpu-kit
KIT_TAR=dist/gpu-kit/lrdif-gpu-kit.tar.xz
TMP=$(mktemp -d /tmp/lrdif-kit-ci.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
tar -C "$TMP" -xJf "$KIT_TAR"

# the tools run.sh uses, and nothing else
mkdir "$TMP/bin"
for t in sh cat chmod date dirname grep head mkdir mktemp python3 rm tail tr; do
  ln -s "$(PATH=/usr/bin:/bin command -v "$t")" "$TMP/bin/$t"
done
if env PATH="$TMP/bin" sh -c 'command -v node || command -v npm || command -v xz' >/dev/null; then
  echo "gpu-kit CI: the restricted PATH still finds node, npm or xz" >&2
  exit 1
fi

cd "$TMP"
# HOME stays: Mesa keeps its shader cache there (warm from the tests)
env -i PATH="$TMP/bin:/usr/sbin:/sbin" HOME="$HOME" TMPDIR="$TMP" sh lrdif-gpu-kit/run.sh "$TMP/out" --quick

for f in info.json selftest.json bench.json pytorch-cuda.json summary.txt; do
  [ -s "$TMP/out/$f" ] || { echo "gpu-kit CI: $f is missing or empty" >&2; exit 1; }
done
python3 - "$TMP/out" <<'PY'
import json, sys, os
out = sys.argv[1]
docs = {f: json.load(open(os.path.join(out, f))) for f in ('info.json', 'selftest.json', 'bench.json', 'pytorch-cuda.json')}
st = docs['selftest.json']
assert st['ok'] and st['failed'] == 0 and st['passed'] > 50, f"selftest: {st['passed']} passed, {st['failed']} failed"
assert docs['info.json']['adapter']['summary'], 'info.json has no adapter'
assert len(docs['bench.json']['rows']) > 0, 'bench.json has no rows'
print(f"gpu-kit CI: selftest {st['passed']} passed, {st['skipped']} skipped on {st['device']['adapter']['summary']}; {len(docs['bench.json']['rows'])} benchmark rows")
PY
