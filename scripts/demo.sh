#!/usr/bin/env bash
# `make demo`: examples/quickstart through real Terraform against a local keysmith-sandbox:
# init -> apply -> plan (must report no changes) -> output -> destroy. The sandbox is stopped
# whatever happens. Run it through make, which builds the binaries and provides Terraform
# (KEYSMITH_TERRAFORM, KEYSMITH_BIN_DIR). Everything goes under target/demo (KEYSMITH_DEMO_DIR).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
terraform=${KEYSMITH_TERRAFORM:-terraform}
work=${KEYSMITH_DEMO_DIR:-$repo/target/demo}

# Colour only on a terminal: `make demo > demo.log` gets plain text (Terraform's too).
if [ -t 1 ]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
  export TF_CLI_ARGS="${TF_CLI_ARGS:+$TF_CLI_ARGS }-no-color"
fi

rm -rf "$work"
mkdir -p "$work/quickstart"
cp "$repo"/examples/quickstart/*.tf "$work/quickstart/"

step "Provider mirror for terraform init (no network)"
TF_CLI_CONFIG_FILE=$("$repo/scripts/tfrc.sh" "$work/tf")
export TF_CLI_CONFIG_FILE
echo "TF_CLI_CONFIG_FILE=$TF_CLI_CONFIG_FILE"

step "Starting keysmith-sandbox"
trap '"$repo/scripts/sandbox.sh" stop "$work/sandbox"' EXIT
"$repo/scripts/sandbox.sh" start "$work/sandbox" > /dev/null
# The sandbox's JSON line becomes the example's input variables: each backend's credentials.
eval "$(python3 - "$work/sandbox/sandbox.json" <<'PY'
import json, shlex, sys
line = json.loads(open(sys.argv[1]).readline())
url, creds = line["url"], line["credentials"]
atlas, env0, braintrust, traceloop = (creds[k] for k in ("atlas", "env0", "braintrust", "traceloop"))
for name, value in {
    "TF_VAR_atlas_base_url": url,
    "TF_VAR_atlas_public_key": atlas["public_key"],
    "TF_VAR_atlas_private_key": atlas["private_key"],
    "TF_VAR_atlas_org_id": atlas["org_id"],
    "TF_VAR_env0_base_url": url,
    "TF_VAR_env0_api_key_id": env0["api_key_id"],
    "TF_VAR_env0_api_key_secret": env0["api_key_secret"],
    "TF_VAR_braintrust_base_url": url,
    "TF_VAR_braintrust_api_key": braintrust["service_token"],
    "TF_VAR_braintrust_service_account_id": braintrust["service_account_id"],
    "TF_VAR_braintrust_org_name": braintrust["org_name"],
    "TF_VAR_traceloop_base_url": url,
    "TF_VAR_traceloop_api_key": traceloop["api_key"],
}.items():
    print(f"export {name}={shlex.quote(value)}")
PY
)"
echo "sandbox at $TF_VAR_atlas_base_url: Atlas organization $TF_VAR_atlas_org_id, Braintrust organization" \
  "$TF_VAR_braintrust_org_name, env0 and Traceloop (log: $work/sandbox/sandbox.log)"

tf() { (cd "$work/quickstart" && "$terraform" "$@"); }

# A filesystem mirror has no checksums of its own: the first `init` would compute this platform's
# and warn ("Incomplete lock file information") that the lock file holds no others. Recording it
# up front is what a team does before committing the lock file.
step "terraform providers lock (the mirror's checksum for this platform)"
tf providers lock -fs-mirror="$work/tf/mirror" -platform="$(python3 "$repo/scripts/release.py" platform)"

step "terraform init"
tf init -input=false

step "terraform apply"
tf apply -input=false -auto-approve

step "terraform plan -detailed-exitcode (expect: no changes)"
rc=0
tf plan -input=false -detailed-exitcode || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "demo: the plan after apply is not empty (exit code $rc)" >&2
  exit 1
fi

step "terraform output"
tf output

step "terraform destroy"
tf destroy -input=false -auto-approve

step "Demo finished: Atlas, env0, Braintrust and Traceloop side by side, read back without drift, and destroyed"
echo "(env0 and Traceloop cannot delete organizations: destroy forgot those two, as its warnings say)"
