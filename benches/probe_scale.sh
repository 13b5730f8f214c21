#!/usr/bin/env bash
# Scale sweep: N HTTP targets at a 1 s interval, monit vs autoheal, in one run.
#
# One nginx on loopback (its own config in a temp dir) answers 200 to any /t/K.
# For each N, first monit (`set daemon 1`, one `check host` with one
# `if failed port ... protocol http request /t/K` per target), then autoheal
# (`serve` with N http targets, interval 1s, each its own URL) run one at a time
# for WARMUP + SECS seconds. Over the last SECS seconds it measures, per tool:
#   us/check  CPU (utime+stime from /proc/PID/stat) / checks nginx logged for it
#   rate      checks per second / N (1.00 = every target once a second)
#   period    p50 / p95 of the time between two checks of the same target
#             (nginx's $msec), and the share of periods within 5 % of 1 s
#   conns     TCP connections per check (nginx's $connection serial), so reuse shows
#   rss       peak resident memory (VmHWM)
#
# Usage: benches/probe_scale.sh [N ...]         (default: 100 1000 5000 10000)
#   SECS=30 WARMUP=5 TOOLS="monit autoheal" BIN=target/release/autoheal-tui PORT=18931
#   BEFORE=path/to/older/autoheal-tui  also runs that binary ("before") after autoheal,
#   for a before/after comparison in the same run.
#   PERF=1  profiles each autoheal run with `perf record` over the measured window
#   and prints its top symbols (perf costs CPU too: do not compare those figures).
# Installs nginx and monit with apt-get when missing (as root); skips with a
# message otherwise. Not part of CI: it takes about 2 * (SECS + WARMUP + 5) s per N.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 1000 5000 10000)
SECS=${SECS:-30}
WARMUP=${WARMUP:-5}
TOOLS=${TOOLS:-monit autoheal}
PORT=${PORT:-18931}
BIN=${BIN:-target/release/autoheal-tui}
BEFORE=${BEFORE:-}
[ -z "$BEFORE" ] || { TOOLS="$TOOLS before"; BEFORE=$(realpath "$BEFORE"); }
HZ=$(getconf CLK_TCK)

for prog in nginx monit; do
  command -v "$prog" >/dev/null && continue
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y "$prog" >/dev/null 2>&1 || true
  fi
  command -v "$prog" >/dev/null || { echo "skipped: $prog is missing (apt-get install -y $prog)" >&2; exit 0; }
done
if [ -n "${PERF:-}" ] && ! command -v perf >/dev/null; then
  [ "$(id -u)" = 0 ] && apt-get install -y linux-perf >/dev/null 2>&1 || true
  command -v perf >/dev/null || { echo "perf is missing (apt-get install -y linux-perf): no profile" >&2; PERF=; }
fi
command -v python3 >/dev/null || { echo "skipped: python3 is missing" >&2; exit 0; }
if [[ " $TOOLS " == *" autoheal "* && ! -x "$BIN" ]]; then
  cargo build --release --bin autoheal-tui
fi
BIN=$(realpath "$BIN")
# 10,000 targets hold up to 10,000 sockets in each process.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

mkdir -p "$tmp/logs" "$tmp/tmp"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 40000; }
http {
  log_format probe '\$msec \$connection "\$http_user_agent" \$uri';
  access_log $tmp/logs/access.log probe buffer=256k flush=1s;
  client_body_temp_path $tmp/tmp/body;
  proxy_temp_path $tmp/tmp/proxy;
  fastcgi_temp_path $tmp/tmp/fastcgi;
  uwsgi_temp_path $tmp/tmp/uwsgi;
  scgi_temp_path $tmp/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    location /t/ { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
nginx -p "$tmp" -e "$tmp/logs/error.log" -c "$tmp/nginx.conf" -g 'daemon off;' &
pids+=($!)
NGINX=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/t/0" >/dev/null 2>&1 && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

# monit: one check host per target, one HTTP check each.
monit_config() { # N
  {
    echo "set daemon 1"
    echo "set logfile $tmp/monit.log"
    echo "set pidfile $tmp/monit.pid"
    echo "set idfile $tmp/monit.id"
    echo "set statefile $tmp/monit.state"
    for k in $(seq "$1"); do
      echo "check host t$k with address 127.0.0.1"
      echo "  if failed port $PORT protocol http request \"/t/$k\" then alert"
    done
  } >"$tmp/monitrc"
  chmod 600 "$tmp/monitrc"
}

autoheal_config() { # N
  {
    echo "targets:"
    for k in $(seq "$1"); do
      echo "  - { name: t$k, http: { url: \"http://127.0.0.1:$PORT/t/$k\" }, interval: 1s }"
    done
  } >"$tmp/autoheal.yaml"
}

# Runs one tool at N targets; appends "tool n checks secs cpu_ticks hwm_kb t0 t1" to results.
run_one() { # tool N
  local tool=$1 n=$2 pid
  : >"$tmp/logs/access.log"
  kill -USR1 "$NGINX" # reopen the emptied log
  case $tool in
    monit)
      monit_config "$n"
      monit -c "$tmp/monitrc" -I >"$tmp/monit.out" 2>&1 &
      ;;
    autoheal | before)
      local bin=$BIN
      [ "$tool" = autoheal ] || bin=$BEFORE
      autoheal_config "$n"
      rm -rf "$tmp/home" "$tmp/journal.jsonl"*
      mkdir -p "$tmp/home"
      HOME=$tmp/home "$bin" serve --config "$tmp/autoheal.yaml" --journal "$tmp/journal.jsonl" \
        --listen 127.0.0.1:0 >"$tmp/$tool.out" 2>&1 &
      ;;
  esac
  pid=$!
  pids+=("$pid")
  sleep "$WARMUP"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$tool with $n targets exited early:" >&2
    tail -5 "$tmp/$tool.out" >&2
    return
  fi
  local t0 c0 t1 c1 hwm
  t0=$(now); c0=$(cpu_ticks "$pid")
  if [ -n "${PERF:-}" ] && [ "$tool" != monit ]; then
    perf record -F 499 -p "$pid" -o "$tmp/perf.data" -- sleep "$SECS" >/dev/null 2>&1
  else
    sleep "$SECS"
  fi
  t1=$(now); c1=$(cpu_ticks "$pid"); hwm=$(hwm_kb "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sleep 1.5 # nginx flushes its log buffer every second
  kill -USR1 "$NGINX"; sleep 0.5
  cp "$tmp/logs/access.log" "$tmp/access-$tool-$n.log"
  echo "$tool $n $((c1 - c0)) $hwm $t0 $t1" >>"$tmp/results"
  if [ -f "$tmp/perf.data" ]; then
    echo "-- perf: $tool, $n targets, top symbols" >&2
    perf report -i "$tmp/perf.data" --stdio --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >&2 || true
    perf report -i "$tmp/perf.data" --stdio --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 >&2 || true
    rm -f "$tmp/perf.data"
  fi
}

: >"$tmp/results"
for n in "${SIZES[@]}"; do
  for tool in $TOOLS; do
    echo "== $tool, $n targets, ${SECS}s" >&2
    run_one "$tool" "$n"
  done
done

python3 - "$tmp" "$HZ" <<'EOF'
import sys, collections
tmp, hz = sys.argv[1], int(sys.argv[2])
agent = {"monit": "Monit", "autoheal": "autoheal", "before": "autoheal"}
order = {"monit": 0, "before": 1, "autoheal": 2}

def pct(xs, p):
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")

rows = {}
for line in open(f"{tmp}/results"):
    tool, n, ticks, hwm, t0, t1 = line.split()
    n, ticks, hwm, t0, t1 = int(n), int(ticks), int(hwm), float(t0), float(t1)
    seen, conns = collections.defaultdict(list), set()
    for entry in open(f"{tmp}/access-{tool}-{n}.log"):
        parts = entry.split('"')
        if len(parts) < 3 or not parts[1].startswith(agent[tool]):
            continue
        msec, conn = parts[0].split()
        at = float(msec)
        if t0 <= at <= t1:
            seen[parts[2].strip()].append(at)
            conns.add(conn)
    checks = sum(len(v) for v in seen.values())
    periods = sorted(b - a for v in seen.values() for a, b in zip(v, v[1:]))
    within = sum(1 for p in periods if abs(p - 1.0) <= 0.05) / len(periods) if periods else 0
    secs = t1 - t0
    rows[(tool, n)] = dict(
        us=ticks / hz * 1e6 / checks if checks else float("inf"),
        rate=checks / secs / n, p50=pct(periods, 50), p95=pct(periods, 95),
        within=within, conns=len(conns) / checks if checks else 0, rss=hwm / 1024,
        targets=len(seen), checks=checks)

print(f"\n{'N':>6} {'tool':<9} {'us/check':>9} {'rate':>6} {'p50 s':>6} {'p95 s':>6} "
      f"{'<=5%':>5} {'conn/chk':>8} {'RSS MB':>7} {'seen':>6}")
for (tool, n), r in sorted(rows.items(), key=lambda kv: (kv[0][1], order[kv[0][0]])):
    print(f"{n:>6} {tool:<9} {r['us']:>9.1f} {r['rate']:>6.2f} {r['p50']:>6.3f} {r['p95']:>6.3f} "
          f"{r['within']:>5.0%} {r['conns']:>8.2f} {r['rss']:>7.1f} {r['targets']:>6}")
print("\nautoheal / monit (below 1 is autoheal ahead on CPU, above 1 on rate):")
for n in sorted({n for _, n in rows}):
    m, a = rows.get(("monit", n)), rows.get(("autoheal", n))
    if m and a:
        print(f"{n:>6}  CPU per check x{a['us'] / m['us']:.2f}   rate x{a['rate'] / m['rate']:.2f}")
befores = [n for t, n in rows if t == "before"]
if befores:
    print("\nautoheal / before (below 1 is cheaper now):")
for n in sorted(befores):
    b, a = rows[("before", n)], rows.get(("autoheal", n))
    if a:
        print(f"{n:>6}  CPU per check x{a['us'] / b['us']:.2f}   RSS x{a['rss'] / b['rss']:.2f}")
EOF
