#!/usr/bin/env bash
# Crash recovery side by side (issue 11): monit 5.x with `set daemon 1`, then autoheal
# (release binary, a plain config: an http probe on nginx and a tcp probe on redis, 1 s
# interval, the shipped playbooks), one supervisor at a time. Each trial kill -9s every
# process of the service and measures, from outside, the time from the kill to the
# service serving again (an HTTP 200 from nginx, +PONG from redis), polled every 10 ms.
#
# Cases: nginx, all processes killed; redis, killed; nginx with no reaper: nobody reaps
# the killed master, so it stays a zombie whose pid is still in the pid file (a container
# whose PID 1 does not reap). In the first two cases this script is the child subreaper
# of the daemons, and reaps them at once, as an init that reaps would.
#
# nginx and redis run on loopback ports of their own with configs in a temp dir, so a
# system install is not disturbed. autoheal starts them with the target's `vars.start`
# (no service manager knows their names), as it would in a container.
#
# Not the shipped rails: to keep 20 restarts in a row from being held for approval, the
# bench's own config sets `cooldown: 1s` (policy, and in its copy of the shipped nginx and
# redis playbooks, which set 10m), `flap_max: 1000`, `max_per_hour: 10000`, and
# `backoff_reset: 1s` (no growing wait between remediations 3 s apart). Nothing else, but
# the name of the nginx service in that copy (see below), so the system's nginx is not touched.
#
# A trial that does not recover within TIMEOUT (10 s) ends its case: with no reaper at all
# (PID 1 of a container often reaps nothing) a supervisor that trusts the pid file waits forever.
#
# Trials are SETTLE (3 s) plus a random 0-1 s apart, so kills land at random points of
# the supervisors' 1 s cycles.
#
# Usage: benches/recover.sh            (TRIALS=20 SETTLE=3 CASES="nginx redis zombie"
#                                        TOOLS="monit autoheal" BIN=target/release/autoheal-tui)
# Installs nginx, redis-server and monit with apt-get when missing (as root), else skips.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-20}
SETTLE=${SETTLE:-3}
TIMEOUT=${TIMEOUT:-10}
CASES=${CASES:-"nginx redis zombie"}
TOOLS=${TOOLS:-"monit autoheal"}
BIN=${BIN:-target/release/autoheal-tui}

missing=()
for tool in nginx redis-server monit python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null
  else
    echo "SKIPPED: ${missing[*]} missing; run as root with apt-get, or install them" >&2
    exit 0
  fi
fi
[ -x "$BIN" ] || cargo build --release
BIN=$(realpath "$BIN")

tmp=$(mktemp -d /tmp/autoheal-recover.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r playbooks "$tmp/playbooks"
sed -i 's/^cooldown: 10m$/cooldown: 1s/' "$tmp/playbooks/nginx-reload.yaml" "$tmp/playbooks/redis-restart.yaml"
# The shipped nginx playbook names the service `nginx`; where /etc/init.d/nginx exists that
# is the system's nginx. The bench's own is unknown to any manager: its start command runs.
sed -i 's/service: { name: nginx,/service: { name: autoheal-bench-nginx,/' "$tmp/playbooks/nginx-reload.yaml"

cat >"$tmp/driver.py" <<'PY'
import ctypes, math, os, random, signal, socket, statistics, subprocess, sys, threading, time

W, BIN = sys.argv[1], sys.argv[2]
TRIALS, SETTLE = int(os.environ["TRIALS"]), float(os.environ["SETTLE"])
TIMEOUT = float(os.environ["TIMEOUT"])
CASES, TOOLS = os.environ["CASES"].split(), os.environ["TOOLS"].split()
def which(program):
    return subprocess.check_output(["sh", "-c", f"command -v {program}"], text=True).strip()

NGINX, REDIS = which("nginx"), which("redis-server")

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

NG_PORT, RD_PORT = free_port(), free_port()
open(f"{W}/nginx.conf", "w").write(f"""
worker_processes 2;
pid {W}/nginx.pid;
error_log {W}/nginx.error.log;
events {{ }}
http {{
  access_log off;
  client_body_temp_path {W}/body; proxy_temp_path {W}/proxy; fastcgi_temp_path {W}/fastcgi;
  uwsgi_temp_path {W}/uwsgi; scgi_temp_path {W}/scgi;
  server {{ listen 127.0.0.1:{NG_PORT}; location = /healthz {{ return 200 "ok\\n"; }} }}
}}
""")
open(f"{W}/redis.conf", "w").write(f"""
bind 127.0.0.1
port {RD_PORT}
daemonize yes
pidfile {W}/redis.pid
dir {W}
save ""
appendonly no
logfile {W}/redis.log
""")
START = {"nginx": f"{NGINX} -c {W}/nginx.conf", "redis": f"{REDIS} {W}/redis.conf"}

# --- reaping: be the subreaper of the daemons, and reap them at once (or not) ---
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
reaping = threading.Event()
reaping.set()
def reaper():
    while True:
        if reaping.is_set():
            try:
                while os.waitpid(-1, os.WNOHANG)[0] > 0:
                    pass
            except ChildProcessError:
                pass
        time.sleep(0.002)
threading.Thread(target=reaper, daemon=True).start()

def serving(service):
    try:
        with socket.create_connection(("127.0.0.1", NG_PORT if service == "nginx" else RD_PORT), timeout=0.2) as s:
            s.settimeout(0.2)
            if service == "nginx":
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False

def pid_of(service):
    try:
        return int(open(f"{W}/{service}.pid").read().strip())
    except (OSError, ValueError):
        return None

def state(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        return stat[stat.rfind(")") + 2]
    except OSError:
        return None

def processes(service):
    """The live processes of our instance: the pid file's process and its children."""
    master = pid_of(service)
    if master is None or state(master) in (None, "Z"):
        return []
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == master:
                pids.append(int(entry))
    return pids

def wait_serving(service, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if serving(service):
            return True
        time.sleep(0.05)
    return False

def trial(service):
    """kill -9 every process, then poll every 10 ms; ms from the kill to serving again."""
    pids = processes(service)
    if not pids:
        return None
    t0 = time.monotonic()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    while any(state(p) not in (None, "Z") for p in pids):  # dead, reaped or not
        time.sleep(0.001)
    while True:
        if serving(service):
            return (time.monotonic() - t0) * 1000
        if time.monotonic() - t0 > TIMEOUT:
            return float("inf")
        time.sleep(0.01)

def start_services():
    for service in ("nginx", "redis"):
        if not serving(service):
            subprocess.run(START[service].split(), check=True)
        assert wait_serving(service, 5), f"{service} does not serve"

def stop_services():
    for service in ("nginx", "redis"):
        for pid in processes(service):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)

def monit():
    rc = f"{W}/monitrc"
    open(rc, "w").write(f"""
set daemon 1
set logfile {W}/monit.log
set pidfile {W}/monit.pid
set idfile {W}/monit.id
set statefile {W}/monit.state
check process bench-nginx with pidfile {W}/nginx.pid
  start program = "{START['nginx']}"
  stop program = "{NGINX} -c {W}/nginx.conf -s stop"
  if failed host 127.0.0.1 port {NG_PORT} protocol http request "/healthz" then restart
check process bench-redis with pidfile {W}/redis.pid
  start program = "{START['redis']}"
  if failed host 127.0.0.1 port {RD_PORT} then restart
""")
    os.chmod(rc, 0o600)
    return subprocess.Popen(["monit", "-I", "-c", rc], stdout=open(f"{W}/monit.out", "w"), stderr=subprocess.STDOUT)

def autoheal():
    config = f"{W}/autoheal.yaml"
    open(config, "w").write(f"""
targets:
  - name: nginx
    http: {{ url: "http://127.0.0.1:{NG_PORT}/healthz" }}
    interval: 1s
    labels: {{ autoheal.restart: nginx }}
    vars: {{ start: "{START['nginx']}" }}
  - name: redis
    tcp: {{ address: "127.0.0.1:{RD_PORT}" }}
    interval: 1s
    labels: {{ autoheal.restart: redis }}
    vars: {{ unit: autoheal-bench-redis, start: "{START['redis']}" }}
policy:   # bench only, see the script's header
  cooldown: 1s
  flap_max: 1000
  max_per_hour: 10000
  backoff_reset: 1s
""")
    env = dict(os.environ, HOME=W, XDG_CONFIG_HOME=f"{W}/xdg", XDG_DATA_HOME=f"{W}/xdg")
    return subprocess.Popen(
        [BIN, "--headless", "--config", config, "--playbooks", f"{W}/playbooks", "--journal", f"{W}/journal.jsonl"],
        stdout=subprocess.DEVNULL, stderr=open(f"{W}/autoheal.log", "a"), env=env)

def pct(xs, p):
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]

results = {}
for tool in TOOLS:
    start_services()
    supervisor = {"monit": monit, "autoheal": autoheal}[tool]()
    time.sleep(3)  # its first cycle sees both healthy
    for case in CASES:
        service = "redis" if case == "redis" else "nginx"
        times = []
        if case == "zombie":
            reaping.clear()
        for i in range(TRIALS):
            ms = trial(service)
            if ms is None:
                print(f"{tool} {case}: {service} is not running before trial {i + 1}", file=sys.stderr)
                break
            times.append(ms)
            print(f"{tool:8} {case:6} trial {i + 1:2}: {ms:7.0f} ms", file=sys.stderr, flush=True)
            if ms == float("inf"):
                break
            # A random phase: kills a whole number of seconds apart would all land at
            # the same point of a 1 s probe cycle.
            time.sleep(SETTLE + random.random())
        reaping.set()
        if not wait_serving(service, 15):
            start_services()
        results[(tool, case)] = times
    supervisor.terminate()
    supervisor.wait(timeout=10)
    stop_services()

def cell(times):
    if not times:
        return "—"
    if any(t == float("inf") for t in times):
        return f"{sum(t == float('inf') for t in times)} of {len(times)} never recovered within {TIMEOUT:.0f} s"
    return f"{pct(times, 50):.0f} / {pct(times, 95):.0f} / {max(times):.0f} ms"

label = {"nginx": "nginx, all processes killed", "redis": "redis, killed", "zombie": "nginx left a zombie (no reaper)"}
print(f"\nTime from kill -9 to serving again, p50 / p95 / max, {TRIALS} trials each, polled every 10 ms")
print(f"| | {' | '.join(TOOLS)} | p50 / p95 ratio |")
print(f"|---|{'---|' * len(TOOLS)}---|")
for case in CASES:
    cols = [cell(results.get((t, case), [])) for t in TOOLS]
    ratio = "—"
    if set(TOOLS) >= {"monit", "autoheal"}:
        m, a = results.get(("monit", case)), results.get(("autoheal", case))
        if m and a and all(x != float("inf") for x in m + a):
            ratio = f"autoheal {pct(a, 50) / pct(m, 50):.2f}× / {pct(a, 95) / pct(m, 95):.2f}× monit's"
    print(f"| {label[case]} | {' | '.join(cols)} | {ratio} |")
PY

echo "monit $(monit -V | head -1 | grep -o '[0-9][0-9.]*' | head -1), nginx $(nginx -v 2>&1 | cut -d/ -f2), redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-), $(nproc) cores; logs in $tmp (kept with KEEP=1)" >&2
[ "${KEEP:-0}" = 1 ] && trap - EXIT
TRIALS=$TRIALS SETTLE=$SETTLE TIMEOUT=$TIMEOUT CASES=$CASES TOOLS=$TOOLS python3 "$tmp/driver.py" "$tmp" "$BIN"
