# Shell functions the manager benchmarks share (sourced by run.sh and replica_lag.sh).

# Stops the benchmark naming the first of the given programs that is missing.
require() {
  for bin in "$@"; do
    [ -n "$bin" ] && [ -x "$bin" ] || { echo "missing $bin: build the manager in release mode and run tests/install-deps" >&2; exit 1; }
  done
}
# A new work directory /tmp/<name>.XXXXXX, given to the postgres user when running as root.
work_dir() {
  local dir; dir=$(mktemp -d "/tmp/$1.XXXXXX")
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  echo "$dir"
}
# Runs a command as the postgres user (PostgreSQL refuses to run as root).
if [ "$(id -u)" = 0 ]; then
  as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/tmp "$@"; }
else
  as_pg() { "$@"; }
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# What else the machine was doing, measured rather than assumed: the load average, and every
# command (its processes summed) that used at least 10 % of a core during a 5 s sample.
machine_state() {
  python3 - <<'PY'
import os, time
def sample():
    ticks = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        end = stat.rfind(")")
        fields = stat[end + 2:].split()
        ticks[pid] = (stat[stat.find("(") + 1:end], int(fields[11]) + int(fields[12]))
    return ticks
seconds = 5
before = sample(); time.sleep(seconds); after = sample()
hz = os.sysconf("SC_CLK_TCK")
busy = {}
for pid, (name, t) in after.items():
    if pid in before and before[pid][0] == name:
        busy[name] = busy.get(name, 0) + (t - before[pid][1]) * 100 / hz / seconds
top = sorted(((p, n) for n, p in busy.items() if p >= 10), reverse=True)[:8]
load = " ".join(open("/proc/loadavg").read().split()[:3])
others = ", ".join(f"{n} {p:.0f} %" for p, n in top) or "none above 10 % of a core"
print(f"load average {load} (1/5/15 min); busy over {seconds} s: {others}")
PY
}
