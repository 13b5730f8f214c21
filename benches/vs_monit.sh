#!/usr/bin/env bash
# autoheal against monit, side by side in one run (issue 11), on this machine:
#   1. benches/recover.sh      kill -9 nginx / redis, time until they serve again
#   2. benches/probe_scale.sh  100 to 10,000 http targets at 1 s: CPU per check, period
# Each installs nginx, redis-server and monit with apt-get when missing (as root), or
# skips with a message. About 15 minutes; not part of CI.
#
# Usage: benches/vs_monit.sh [N ...]    (N: the scale sweep's target counts)
set -euo pipefail
cd "$(dirname "$0")/.."
benches/recover.sh
benches/probe_scale.sh "$@"
