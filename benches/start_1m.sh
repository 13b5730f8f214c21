#!/usr/bin/env bash
# What a user waits for when `serve` starts on a long history.
#
# Builds the release binary and examples/gen_journal.rs, writes a journal of
# EVENTS (default 1,000,002) events in the documented format, shaped like a long
# demo run with chaos (see the example's header), then starts
#   autoheal-tui serve --demo --journal J --listen 127.0.0.1:0
# RUNS times (default 3) without a snapshot (the file is removed first: a full
# replay) and RUNS times with the snapshot the previous clean stop wrote, and for
# each run measures:
#   start    wall time from launching the process to its `engine_started` line
#            appearing in the journal (polled every 5 ms)
#   cpu      CPU time (user+sys) the process used by then (/proc/PID/stat)
#   rss@start peak resident memory by then (VmHWM in /proc/PID/status)
#   maxrss   peak resident memory of the whole run, clean stop (SIGTERM, which
#            writes the snapshot) included, from GNU `/usr/bin/time -v`
# and then, from examples/snapshot_costs.rs, the pause a periodic snapshot
# costs the engine loop (a clone of the state) and the snapshot's write and
# read times and size.
#
# Usage: benches/start_1m.sh [EVENTS]       (RUNS=N to change the run count)
# Needs GNU time (`apt-get install -y time`; installed here when run as root).
set -euo pipefail
EVENTS=${1:-1000002}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/time ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y time >/dev/null 2>&1 || true
fi
TIME=()
if [ -x /usr/bin/time ]; then
  TIME=(/usr/bin/time -v -o)
else
  echo "GNU time is missing (apt-get install -y time): maxrss is not measured" >&2
fi

cargo build --release --quiet --bin autoheal-tui --example gen_journal --example snapshot_costs
BIN=$PWD/target/release/autoheal-tui
GEN=$PWD/target/release/examples/gen_journal
HZ=$(getconf CLK_TCK)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
J=$tmp/journal.jsonl
"$GEN" "$EVENTS" "$J"
echo "journal: $(du -m "$J" | cut -f1) MiB, $(wc -l < "$J") lines"

# One start: prints "start_ms cpu_s rss_start_mib maxrss_mib".
start_once() {
  local before pid child t0 t1 cpu hwm maxrss=-
  before=$(stat -c %s "$J")
  t0=$(date +%s%N)
  if [ ${#TIME[@]} -gt 0 ]; then
    HOME=$tmp/home "${TIME[@]}" "$tmp/time.txt" \
      "$BIN" serve --demo --journal "$J" --listen 127.0.0.1:0 >"$tmp/out.log" 2>&1 &
  else
    HOME=$tmp/home "$BIN" serve --demo --journal "$J" --listen 127.0.0.1:0 >"$tmp/out.log" 2>&1 &
  fi
  pid=$!
  # (not `| grep -q`: under pipefail, tail's SIGPIPE would fail the test)
  until [ -n "$(tail -c +"$((before + 1))" "$J" | grep -m1 -o '"kind":"engine_started"')" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "autoheal exited before engine_started:" >&2
      cat "$tmp/out.log" >&2
      exit 1
    fi
    sleep 0.005
  done
  t1=$(date +%s%N)
  child=$pid
  if [ ${#TIME[@]} -gt 0 ]; then child=$(pgrep -P "$pid" -n); fi
  cpu=$(awk -v hz="$HZ" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$child/stat")
  hwm=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$child/status")
  kill -TERM "$child"
  wait "$pid" || true
  if [ ${#TIME[@]} -gt 0 ]; then
    maxrss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$tmp/time.txt")
  fi
  echo "$(((t1 - t0) / 1000000)) $cpu $hwm $maxrss"
}

printf '\n%-10s %4s %10s %8s %13s %12s\n' snapshot run start_ms cpu_s rss@start_MiB maxrss_MiB
for run in $(seq "$RUNS"); do
  rm -f "$J.snapshot"
  read -r ms cpu hwm max < <(start_once)
  printf '%-10s %4s %10s %8s %13s %12s\n' none "$run" "$ms" "$cpu" "$hwm" "$max"
done
# The last clean stop left a snapshot; each run below starts from the one before.
for run in $(seq "$RUNS"); do
  read -r ms cpu hwm max < <(start_once)
  printf '%-10s %4s %10s %8s %13s %12s\n' yes "$run" "$ms" "$cpu" "$hwm" "$max"
done
"$PWD/target/release/examples/snapshot_costs" "$J"
