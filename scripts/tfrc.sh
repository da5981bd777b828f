#!/usr/bin/env bash
# Usage: scripts/tfrc.sh DIR [PROVIDER_BINARY]
#
# Makes the provider built in this checkout installable by a plain `terraform init`, with no
# network: writes a filesystem mirror DIR/mirror holding PROVIDER_BINARY (a symlink; default
# target/release/terraform-provider-keysmith) as registry.terraform.io/keysmith/keysmith at the
# crate's version, and a Terraform CLI config DIR/terraformrc that installs keysmith/keysmith from
# that mirror (every other provider as usual). Prints the CLI config's path:
#
#   export TF_CLI_CONFIG_FILE=$(scripts/tfrc.sh target/tf)
set -euo pipefail

usage() {
  echo "usage: scripts/tfrc.sh DIR [PROVIDER_BINARY]" >&2
  exit 2
}

repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || usage
dir=$1
bin=${2:-${KEYSMITH_BIN_DIR:-$repo/target/release}/terraform-provider-keysmith}

version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$repo/Cargo.toml" | head -n1)
case "$(uname -s)_$(uname -m)" in
  Linux_x86_64) platform=linux_amd64 ;;
  Linux_aarch64 | Linux_arm64) platform=linux_arm64 ;;
  Darwin_arm64) platform=darwin_arm64 ;;
  Darwin_x86_64) platform=darwin_amd64 ;;
  *) echo "tfrc.sh: unsupported platform $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac

[ -x "$bin" ] || { echo "tfrc.sh: no provider binary at $bin (run: make build)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pkg="$dir/mirror/registry.terraform.io/keysmith/keysmith/$version/$platform"
mkdir -p "$pkg"
ln -sfn "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" "$pkg/terraform-provider-keysmith"

cat > "$dir/terraformrc" <<HCL
# Written by scripts/tfrc.sh: keysmith/keysmith comes from this checkout's build.
disable_checkpoint = true

provider_installation {
  filesystem_mirror {
    path    = "$dir/mirror"
    include = ["registry.terraform.io/keysmith/keysmith"]
  }
  direct {
    exclude = ["registry.terraform.io/keysmith/keysmith"]
  }
}
HCL
echo "$dir/terraformrc"
