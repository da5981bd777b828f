#!/usr/bin/env bash
# Usage: scripts/bench.sh [N_LIST] [RUNS]      (defaults: 10,100,1000 and 3)
#
# SPEC §10's figures, measured with ../shared/tools/tfbench.py, side by side in one run:
#   1. size and handshake (--mtls on) of the provider, beside the Go framework peer;
#   2. plan-create per resource, offline, beside the Go peer and Terraform's terraform_data floor;
#   3. apply / plan with refresh / destroy of Atlas keys against keysmith-sandbox, beside the
#      floor.
# The Go peer (terraform-plugin-framework v1.19) comes from PyPI's workato-terraform-provider
# wheel into target/bench/ (or $TFBENCH_WORKATO_BIN). Results: target/bench/*.json and stdout.
# The machines are noisy: read medians and the ratios taken in the same run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${SHARED_TOOLS:-$repo/../shared/tools}
bin_dir=${KEYSMITH_BIN_DIR:-$repo/target/release}
provider=$bin_dir/terraform-provider-keysmith
out=$repo/target/bench
n_list=${1:-10,100,1000}
runs=${2:-3}
python=${PYTHON:-python3}

[ -f "$tools/tfbench.py" ] || { echo "bench: $tools/tfbench.py not found" >&2; exit 1; }
[ -x "$provider" ] || { echo "bench: no provider at $provider (run: make build)" >&2; exit 1; }
mkdir -p "$out"
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
"$python" "$tools/tfbench.py" size --bin "$provider" --bin "$TFBENCH_WORKATO_BIN"
"$python" "$tools/tfbench.py" handshake --mtls on --runs 20 \
  --bin "$provider" --label keysmith --bin "$TFBENCH_WORKATO_BIN" --label go

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
  --n "$n_list" --runs "$runs" --target "$tools/targets/go-workato.toml"

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
  --phases apply,plan,destroy --n "$n_list" --runs "$runs"
