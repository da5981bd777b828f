#!/usr/bin/env bash
# Usage: scripts/bench.sh [N_LIST] [RUNS] [CPU_N]      (defaults: 10,100,1000, 3 and 1000)
#
# SPEC §10's figures, side by side in one run:
#   1. size and handshake (--mtls on) of the provider, beside the Go framework peer (tfbench);
#   2. plan-create per resource, offline, beside the Go peer and Terraform's terraform_data floor;
#   3. apply / plan with refresh / destroy of Atlas keys against keysmith-sandbox, beside the
#      floor (tfbench lifecycle over N_LIST, RUNS rounds);
#   4. the provider's own CPU per key for apply / plan / destroy of CPU_N Atlas keys, and its
#      share of the whole command's CPU (../shared/tools/provider_cpu.py; needs /usr/bin/time).
# The Go peer (terraform-plugin-framework v1.19) comes from PyPI's workato-terraform-provider
# wheel into target/bench/ (or $TFBENCH_WORKATO_BIN). Results: target/bench/*.json and *.txt,
# stdout, and BENCHMARKS.md (scripts/bench_report.py: the figures against SPEC §10's targets,
# the machine, the command, the date). The machines are noisy: read medians and the ratios
# taken in the same run.
set -euo pipefail

usage() {
  echo "usage: scripts/bench.sh [N_LIST] [RUNS] [CPU_N]   e.g. scripts/bench.sh 10,100,1000 3 1000" >&2
  exit 2
}
[ $# -le 3 ] || usage
[[ ${1:-10} =~ ^[0-9]+(,[0-9]+)*$ ]] || usage
[[ ${2:-3} =~ ^[1-9][0-9]*$ ]] || usage
[[ ${3:-1000} =~ ^[1-9][0-9]*$ ]] || usage

repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${SHARED_TOOLS:-$repo/../shared/tools}
bin_dir=${KEYSMITH_BIN_DIR:-$repo/target/release}
provider=$bin_dir/terraform-provider-keysmith
out=$repo/target/bench
n_list=${1:-10,100,1000}
runs=${2:-3}
cpu_n=${3:-1000}
python=${PYTHON:-python3}
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# What BENCHMARKS.md names as the command: make's, when make ran us.
command=${KEYSMITH_BENCH_COMMAND:-scripts/bench.sh $*}

[ -f "$tools/tfbench.py" ] || { echo "bench: $tools/tfbench.py not found" >&2; exit 1; }
[ -f "$tools/provider_cpu.py" ] || { echo "bench: $tools/provider_cpu.py not found" >&2; exit 1; }
[ -x "$provider" ] || { echo "bench: no provider at $provider (run: make build)" >&2; exit 1; }
[ -x "$bin_dir/keysmith-sandbox" ] || { echo "bench: no sandbox at $bin_dir/keysmith-sandbox (run: make build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: provider_cpu.py needs /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.txt
export TFBENCH_TERRAFORM=${TFBENCH_TERRAFORM:-${KEYSMITH_TERRAFORM:-terraform}}

# The Go peer, once.
if [ -z "${TFBENCH_WORKATO_BIN:-}" ]; then
  peer_dir=$out/workato
  if [ ! -d "$peer_dir/payload" ] && [ ! -d "$peer_dir/workato_terraform_provider" ]; then
    "$python" -m pip download --quiet --no-deps -d "$peer_dir" workato-terraform-provider==0.16.0
    (cd "$peer_dir" && "$python" -m zipfile -e ./*.whl .)
  fi
  TFBENCH_WORKATO_BIN=$(find "$peer_dir" -path '*linux_amd64*' -name 'terraform-provider-workato_v0.16.0' | head -n1)
  chmod +x "$TFBENCH_WORKATO_BIN"
fi
export TFBENCH_WORKATO_BIN

echo "== size and handshake (keysmith beside the Go framework peer)"
{
  "$python" "$tools/tfbench.py" --out "$out/size.json" size --bin "$provider" --bin "$TFBENCH_WORKATO_BIN"
  "$python" "$tools/tfbench.py" --out "$out/handshake.json" handshake --mtls on --runs 20 \
    --bin "$provider" --label keysmith --bin "$TFBENCH_WORKATO_BIN" --label go
} 2>&1 | tee "$out/size-handshake.txt"

body='org_id = "ORG"
name   = "k-${count.index}"
roles  = ["ORG_READ_ONLY"]'

echo "== plan-create per resource, offline (keysmith beside the Go peer and the floor)"
"$python" "$tools/tfbench.py" --out "$out/plan-create.json" lifecycle \
  --bin "$provider" --label keysmith --source local/keysmith --type keysmith_api_key \
  --provider-config 'atlas {
  base_url    = "http://127.0.0.1:9"
  public_key  = "offline"
  private_key = "offline"
}' \
  --body "${body/ORG/5d09d6a59ccf6445652a444a}" --offline-only --phases plan-create \
  --n "$n_list" --runs "$runs" --target "$tools/targets/go-workato.toml" 2>&1 | tee "$out/plan-create.txt"

echo "== apply / plan / destroy of Atlas keys on the sandbox (beside the floor)"
sandbox_dir=$out/sandbox
trap '"$repo/scripts/sandbox.sh" stop "$sandbox_dir"' EXIT
line=$(KEYSMITH_BIN_DIR=$bin_dir "$repo/scripts/sandbox.sh" start "$sandbox_dir")
# field KEY...: one value of the sandbox's JSON line.
field() {
  "$python" -c 'import json, sys
d = json.loads(sys.argv[1])
for key in sys.argv[2:]:
    d = d[key]
print(d)' "$line" "$@"
}
"$python" "$tools/tfbench.py" --out "$out/lifecycle.json" lifecycle \
  --bin "$provider" --label keysmith --source local/keysmith --type keysmith_api_key \
  --provider-config "atlas {
  base_url    = \"$(field url)\"
  public_key  = \"$(field credentials atlas public_key)\"
  private_key = \"$(field credentials atlas private_key)\"
}" \
  --body "${body/ORG/$(field credentials atlas org_id)}" \
  --phases apply,plan,destroy --n "$n_list" --runs "$runs" 2>&1 | tee "$out/lifecycle.txt"

echo "== the provider's own CPU per key: apply / plan / destroy of $cpu_n Atlas keys (provider_cpu.py)"
"$python" "$tools/provider_cpu.py" "$provider" "$bin_dir/keysmith-sandbox" --n "$cpu_n" \
  --terraform "$TFBENCH_TERRAFORM" 2>&1 | tee "$out/provider-cpu.txt"

"$python" "$repo/scripts/bench_report.py" --results "$out" --out "$repo/BENCHMARKS.md" \
  --command "$command" --cpu-n "$cpu_n" --started "$started"
