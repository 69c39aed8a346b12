#!/usr/bin/env bash
# The package as a user gets it: build the wheel, check what it carries, install it into a fresh venv
# next to the dev one, and run the CLI from a folder outside the checkout (nothing on PYTHONPATH).
#
#   .ci/installed_wheel.sh                  # .ci/run calls it after `make test`; about 3 minutes on 2 cores
#
# Variables: PY (python >= 3.11), WHEEL_VENV (.venv-wheel), REQUIRE_DATA_CMD (1, the default: `mlreason data list`
# must run; 0: run it only when the command exists).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PY:-python3}
WHEEL_VENV=${WHEEL_VENV:-.venv-wheel}
REQUIRE_DATA_CMD=${REQUIRE_DATA_CMD:-1}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
unset PYTHONPATH
t0=$SECONDS
step() { printf '\n== [%3ds] %s\n' $((SECONDS - t0)) "$*"; }

step "fresh venv $WHEEL_VENV with the pinned CPU torch (a local wheel; a bare \`torch\` would pull CUDA builds)"
rm -rf "$WHEEL_VENV"
"$PY" -m venv "$WHEEL_VENV"
"$WHEEL_VENV/bin/pip" install -q torch==2.13.0

step "build the wheel (isolated build: setuptools from the index, as pip does for users)"
# setuptools reuses build/lib: a file since removed from the package would otherwise stay in the wheel.
rm -rf build dist/mlreason-*.whl && mkdir -p dist
"$WHEEL_VENV/bin/pip" wheel -v --no-deps -w dist . >dist/build.log 2>&1 || { tail -40 dist/build.log; exit 1; }
if grep -E "Setuptools[A-Za-z]*Warning|[Dd]eprecated" dist/build.log; then
  echo "FAIL: the build printed setuptools warnings (above; full log in dist/build.log)"; exit 1
fi
WHEEL=$(ls dist/mlreason-*.whl)
echo "$WHEEL ($(du -h "$WHEEL" | cut -f1))"

step "the wheel carries every manifest, recipe, data file and license of the checkout"
"$PY" - "$WHEEL" <<'EOF'
import sys, zipfile
from collections import Counter
from pathlib import Path

names = zipfile.ZipFile(sys.argv[1]).namelist()
shipped = {n.removeprefix("mlreason/_shipped/") for n in names if n.startswith("mlreason/_shipped/")}
local = {p.as_posix() for d in ("data_manifests", "recipes", "data") for p in Path(d).rglob("*") if p.is_file()}
if shipped != local:
    sys.exit(f"FAIL: wheel and checkout differ: missing {sorted(local - shipped)[:5]}, extra {sorted(shipped - local)[:5]}")
licenses = sorted(n.split(".dist-info/licenses/")[1] for n in names if ".dist-info/licenses/" in n)
if not {"LICENSE", "data/mgsm/LICENSE", "data/msvamp/LICENSE_MathOctopus_MIT"} <= set(licenses):
    sys.exit(f"FAIL: licenses in the wheel's metadata: {licenses}")
by_folder = Counter("/".join(s.split("/")[:2]) for s in shipped)
for folder, n in sorted(by_folder.items()):
    print(f"  {n:3d} files  mlreason/_shipped/{folder}")
print(f"  {len(licenses):3d} files  dist-info/licenses: {', '.join(licenses)}")
print(f"  {sum(n.endswith('.py') for n in names):3d} Python modules")
EOF

step "install the wheel and its dependencies"
"$WHEEL_VENV/bin/pip" install -q -c constraints-cpu.txt "$WHEEL"
VPY=$REPO/$WHEEL_VENV/bin/python
M=$REPO/$WHEEL_VENV/bin/mlreason

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
step "from $WORK (outside the checkout)"
"$VPY" -c "import mlreason, sys; p = mlreason.__file__; print('mlreason from', p); sys.exit('site-packages' not in p)"
"$M" --version

step "mlreason recipes list"
COLUMNS=160 "$M" recipes list
"$M" recipes validate >/dev/null

if "$M" data --help >/dev/null 2>&1; then
  step "mlreason data list"
  COLUMNS=160 "$M" data list
elif [ "$REQUIRE_DATA_CMD" = 1 ]; then
  echo "FAIL: the installed mlreason has no \`data\` command"; exit 1
else
  step "mlreason data list: skipped, this mlreason has no \`data\` command (REQUIRE_DATA_CMD=1 makes this a failure)"
fi

step "mlreason build-tiny (tokenizer trained on the shipped data)"
"$M" build-tiny --out tiny --archs qwen2 --hidden-size 64 --layers 2 --intermediate-size 128

step "mlreason evaluate -d mgsm --limit 2"
"$M" evaluate -m tiny/qwen2 -d mgsm --limit 2 -o eval -s generation.max_tokens=8 -s model.dtype=float32 \
  -s report.plot=false
"$VPY" -c "
import json; r = json.load(open('eval/results.json'))['datasets']['mgsm']
assert r['n_questions'] == {l: 2 for l in 'en de fr es ru zh ja th sw bn te'.split()}, r['n_questions']
print('eval/results.json: mgsm, 11 languages x 2 questions')"

step "mlreason probe-layers on the tiny model"
"$M" probe-layers -m tiny/qwen2 -s 'data.manifests=[mgsm]' --max-examples 4 --n-layers 1 -o probe
"$VPY" -c "
import json; r = json.load(open('probe/probe.json'))
assert len(r['chosen_layers']) == 1, r['chosen_layers']
print('probe/probe.json: chosen layers', r['chosen_layers'])"

step "installed-wheel check passed"
