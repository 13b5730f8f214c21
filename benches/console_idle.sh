#!/usr/bin/env bash
# Idle cost of the console beside htop, measured the same way in the same run:
# each runs in its own tmux pane at 120x40 for $SECS seconds; tmux pipe-pane counts
# the bytes written to the terminal, /proc/PID/stat the CPU time used.
# Usage: benches/console_idle.sh [SECS]   (needs tmux and htop: apt-get install -y tmux htop)
set -euo pipefail
SECS=${1:-60}
BIN=${BIN:-target/release/autoheal-tui}
cd "$(dirname "$0")/.."
[ -x "$BIN" ] || cargo build --release
command -v htop >/dev/null || { echo "htop is missing: apt-get install -y htop" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'tmux kill-session -t ah-idle 2>/dev/null; tmux kill-session -t htop-idle 2>/dev/null; rm -rf "$tmp"' EXIT
HZ=$(getconf CLK_TCK)

measure() { # name, command
  local name=$1 cmd=$2
  tmux new-session -d -s "$name" -x 120 -y 40 "$cmd"
  sleep 3 # start-up is not idle
  local pid; pid=$(pgrep -n -f "${3}")
  : > "$tmp/$name.out"
  tmux pipe-pane -o -t "$name" "cat >> $tmp/$name.out"
  local t0; t0=$(awk '{print $14+$15}' /proc/"$pid"/stat)
  sleep "$SECS"
  local t1; t1=$(awk '{print $14+$15}' /proc/"$pid"/stat)
  tmux pipe-pane -t "$name"
  local bytes; bytes=$(wc -c < "$tmp/$name.out")
  awk -v n="$name" -v b="$bytes" -v s="$SECS" -v c=$((t1 - t0)) -v hz="$HZ" \
    'BEGIN { printf "%-10s %8.0f bytes/s  %5.2f%% CPU\n", n, b / s, 100 * c / hz / s }'
  tmux kill-session -t "$name"
  sleep 1 # let the tmux server exit before the next one starts
}

measure ah-idle "HOME=$tmp TERM=xterm-256color $BIN --journal $tmp/j.jsonl" "$BIN --journal $tmp"
measure htop-idle "TERM=xterm-256color htop" "^htop"
