#!/usr/bin/env bash
# Time to detect a killed process, as a user would measure it.
#
# Runs the release binary headless (`--dry-run`, no playbooks: detection only)
# over one target at `interval: 1s`, nothing else tuned:
#   KIND=process (default): a `sleep 1000` named by a pid file (`process:`);
#   KIND=http: `python3 -m http.server` on loopback (`http:`);
# then TRIALS times (default 20): start a fresh service, wait until the engine
# has seen it healthy again (`incident_resolved`) plus 0.3 s and a random
# 0-1 s so the kill lands anywhere in the probe interval, `kill -9` it, and
# read the `ts` of the `incident_detected` the engine journals.
# Prints each trial and p50 / p95 / max of kill -> incident_detected (ms), and
# the journal's own time_to_detect_ms (detection - when the fault was seen).
#
# Usage: benches/detect.sh            (TRIALS=N, KIND=http, WATCH=false to poll
#                                      only, BIN=path to time another build)
set -euo pipefail
TRIALS=${TRIALS:-20}
WATCH=${WATCH:-true}
KIND=${KIND:-process}
cd "$(dirname "$0")/.."

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin autoheal-tui
  BIN=$PWD/target/release/autoheal-tui
fi
WORK=$(mktemp -d)
SLEEPER=
ENGINE=
cleanup() {
  if [ -n "$ENGINE" ]; then kill "$ENGINE" 2>/dev/null || true; wait "$ENGINE" 2>/dev/null || true; fi
  if [ -n "$SLEEPER" ]; then kill -9 "$SLEEPER" 2>/dev/null || true; wait "$SLEEPER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/playbooks"
PORT=$((20000 + RANDOM % 20000))
if [ "$KIND" = http ]; then
  PROBE="http: { url: 'http://127.0.0.1:$PORT/' }"
else
  PROBE="process: { pid_file: '$WORK/sleeper.pid' }"
fi
cat >"$WORK/config.yaml" <<EOF
targets:
  - name: sleeper
    $PROBE
    interval: 1s
EOF
# Old builds know no `watch` key: only say it when turning watching off.
if [ "$WATCH" = false ]; then echo "    watch: false" >>"$WORK/config.yaml"; fi
JOURNAL=$WORK/journal.jsonl

spawn() {
  if [ "$KIND" = http ]; then
    (cd "$WORK/playbooks" && exec python3 -m http.server "$PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
    SLEEPER=$!
    for _ in $(seq 1 200); do
      (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
      sleep 0.01
    done
  else
    sleep 1000 &
    SLEEPER=$!
  fi
  echo "$SLEEPER" >"$WORK/sleeper.pid"
}
count() { grep -c "\"$1\"" "$JOURNAL" 2>/dev/null || true; }
ms_of() { echo $(( $(date -d "$1" +%s%N) / 1000000 )); }

spawn
"$BIN" --headless --dry-run --config "$WORK/config.yaml" --playbooks "$WORK/playbooks" \
  --journal "$JOURNAL" 2>"$WORK/engine.log" &
ENGINE=$!
sleep 1.5

declare -a TOOK
for trial in $(seq 1 "$TRIALS"); do
  before=$(count incident_detected)
  sleep 0.3
  sleep "0.$(printf '%03d' $((RANDOM % 1000)))"
  killed=$(( $(date +%s%N) / 1000000 ))
  kill -9 "$SLEEPER"
  wait "$SLEEPER" 2>/dev/null || true
  for _ in $(seq 1 1000); do
    [ "$(count incident_detected)" -gt "$before" ] && break
    sleep 0.005
  done
  line=$(grep '"incident_detected"' "$JOURNAL" | tail -1)
  ts=$(sed -E 's/.*"ts":"([^"]+)".*/\1/' <<<"$line")
  took=$(( $(ms_of "$ts") - killed ))
  TOOK+=("$took")
  echo "trial $trial: kill -> incident_detected ${took} ms"
  resolved=$(count incident_resolved)
  spawn
  for _ in $(seq 1 1000); do
    [ "$(count incident_resolved)" -gt "$resolved" ] && break
    sleep 0.01
  done
done

printf '%s\n' "${TOOK[@]}" | sort -n | awk '
  { v[NR] = $1 }
  END {
    p50 = v[int((NR + 1) * 0.50)]; p95 = v[int(NR * 0.95 + 0.999)]; if (p95 == "") p95 = v[NR]
    printf "kill -> incident_detected over %d trials: p50 %d ms, p95 %d ms, max %d ms\n", NR, p50, p95, v[NR]
  }'
grep -o '"time_to_detect_ms":[0-9]*' "$JOURNAL" | cut -d: -f2 | sort -n | awk '
  { v[NR] = $1 } END { if (NR) printf "journal time_to_detect_ms: p50 %d, max %d\n", v[int((NR + 1) / 2)], v[NR] }'
