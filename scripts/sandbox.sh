#!/usr/bin/env bash
# Usage: scripts/sandbox.sh start DIR [SANDBOX_ARGS...]
#        scripts/sandbox.sh stop DIR
#
# start: runs keysmith-sandbox in the background on a free loopback port, waits until it accepts
#        connections, and leaves in DIR: sandbox.json (its one JSON line: url + credentials),
#        sandbox.log (its stderr) and sandbox.pid. Prints the JSON line.
# stop:  stops the sandbox started with the same DIR (SIGTERM, then SIGKILL after 5 s).
set -euo pipefail

usage() {
  echo "usage: scripts/sandbox.sh start DIR [SANDBOX_ARGS...]" >&2
  echo "       scripts/sandbox.sh stop DIR" >&2
  exit 2
}

repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
sandbox=${KEYSMITH_BIN_DIR:-$repo/target/release}/keysmith-sandbox

case "$cmd" in
start)
  [ -x "$sandbox" ] || { echo "sandbox.sh: no sandbox binary at $sandbox (run: make build)" >&2; exit 1; }
  mkdir -p "$dir"
  rm -f "$dir/sandbox.json" "$dir/sandbox.pid"
  "$sandbox" --addr 127.0.0.1:0 "$@" > "$dir/sandbox.json" 2> "$dir/sandbox.log" < /dev/null &
  pid=$!
  echo "$pid" > "$dir/sandbox.pid"
  for _ in $(seq 150); do # up to 15 s
    if [ "$(wc -l < "$dir/sandbox.json")" -ge 1 ]; then # the whole line is there
      head -n1 "$dir/sandbox.json"
      exit 0
    fi
    if ! kill -0 "$pid" 2> /dev/null; then
      echo "sandbox.sh: keysmith-sandbox exited before it printed its JSON line; its stderr:" >&2
      cat "$dir/sandbox.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "sandbox.sh: keysmith-sandbox printed no JSON line within 15 s" >&2
  kill "$pid" 2> /dev/null || true
  exit 1
  ;;
stop)
  [ -f "$dir/sandbox.pid" ] || exit 0
  pid=$(cat "$dir/sandbox.pid")
  if kill -TERM "$pid" 2> /dev/null; then
    for _ in $(seq 50); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
  fi
  rm -f "$dir/sandbox.pid"
  ;;
*)
  usage
  ;;
esac
