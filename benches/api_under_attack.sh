#!/usr/bin/env bash
# serve's API under the two attacks of issue 7, with the release binary, on loopback:
#  1. 500 idle sockets against a daemon limited to 256 descriptors (`ulimit -n 256`)
#     while three real targets are probed every 500 ms: /health latency while they are
#     held, and how many probes failed (none should: API clients give way first).
#  2. 200 concurrent 4 MiB Alertmanager posts: the daemon's peak RSS (/usr/bin/time -v).
# Usage: benches/api_under_attack.sh   (needs python3, curl and /usr/bin/time:
#        apt-get install -y python3 curl time)
set -euo pipefail
BIN=${BIN:-target/release/autoheal-tui}
cd "$(dirname "$0")/.."
[ -x "$BIN" ] || cargo build --release
BIN=$(realpath "$BIN")
for tool in python3 curl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is missing (see the usage line)" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

# Waits for serve to print its API address on stderr ($1), then prints the address.
api_of() {
  for _ in $(seq 100); do
    grep -o 'API on http://[0-9.:]*' "$1" 2>/dev/null | head -1 | cut -c8- && return
    sleep 0.1
  done
  echo "serve did not start: $(cat "$1")" >&2; exit 1
}

echo "== 1. 500 idle sockets, ulimit -n 256, three targets probed every 500 ms"
python3 -m http.server --bind 127.0.0.1 0 --directory "$tmp" > "$tmp/web.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q 'port' "$tmp/web.log" && break; sleep 0.1; done
web=$(grep -o 'port [0-9]*' "$tmp/web.log" | cut -d' ' -f2)
cat > "$tmp/attack.yaml" <<EOF
defaults: { interval: 500ms, timeout: 1s }
targets:
  - name: web
    http: { url: "http://127.0.0.1:$web/" }
  - name: port
    tcp: { address: "127.0.0.1:$web" }
  - name: python
    process: { name: python3 }
EOF
sh -c "ulimit -n 256; exec '$BIN' serve --listen 127.0.0.1:0 --for 25s --config '$tmp/attack.yaml' \
  --journal '$tmp/attack.jsonl'" 2> "$tmp/attack.err" &
pids+=($!)
api=$(api_of "$tmp/attack.err")
grep -o 'at most [0-9]* connections; [0-9]* descriptors' "$tmp/attack.err"
python3 - "$api" <<'EOF'
import socket, sys, time, urllib.request
host, port = sys.argv[1].split("//")[1].split(":")
idle = []
for _ in range(500):
    s = socket.socket()
    s.connect((host, int(port)))  # and never sends a byte
    idle.append(s)
times, bad = [], 0
end = time.time() + 15
while time.time() < end:
    t = time.perf_counter()
    try:
        ok = urllib.request.urlopen(sys.argv[1] + "/health", timeout=2).status == 200
    except Exception:
        ok = False
    times.append((time.perf_counter() - t) * 1000)
    bad += not ok
    time.sleep(0.2)
times.sort()
pick = lambda p: times[min(len(times) - 1, int(p * len(times)))]
print(f"/health under 500 idle sockets: {len(times) - bad}/{len(times)} answered 200, "
      f"p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {times[-1]:.1f} ms")
EOF
wait "${pids[1]}" || true
echo "probe failures while held: $(grep -c '"kind":"probe_failed"' "$tmp/attack.jsonl" || true)," \
  "\"Too many open files\": $(grep -c 'Too many open files' "$tmp/attack.err" || true)"

echo "== 2. 200 concurrent 4 MiB Alertmanager posts"
printf 'targets:\n  - name: web\n    passive: {}\n' > "$tmp/am.yaml"
python3 - "$tmp/big.json" <<'EOF'
import json, sys
pad = "x" * (4 * 1024 * 1024 - 200)
alert = {"status": "firing", "labels": {"alertname": "Down", "service": "web"},
         "annotations": {"description": pad}}
json.dump({"version": "4", "status": "firing", "alerts": [alert]}, open(sys.argv[1], "w"))
EOF
/usr/bin/time -v "$BIN" serve --listen 127.0.0.1:0 --for 12s --config "$tmp/am.yaml" \
  --journal "$tmp/am.jsonl" 2> "$tmp/am.err" &
pids+=($!)
api=$(api_of "$tmp/am.err")
seq 200 | xargs -P 200 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
  -H 'content-type: application/json' --data-binary @"$tmp/big.json" "$api/api/alertmanager" \
  | sort | uniq -c | sed 's/^/answers: /'
wait "${pids[2]}" || true
grep 'Maximum resident' "$tmp/am.err"
