# Helpers the shell suites share (tests/cluster/run.sh, tests/galera/run.sh,
# tests/package/run.sh source this). Each suite defines pass, fail, http and its globals
# (WORK, SIM_CONTROL) itself; these only call them.

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# ours PID WHAT: the process is one this suite started, and its command line still names WHAT
# (a reused pid is never signalled by accident).
ours() {
  local c
  c=$( { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
  [[ "$c" == *"$2"* ]]
}

# A free loopback port below the kernel's ephemeral range, so no outgoing connection (curl,
# MariaDB clients) can hold it when nginx or a restarted node binds it; never handed out twice
# in one run ($WORK/ports).
free_port() {
  local p i low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 12000 ] || low=32768
  for i in $(seq 1 200); do
    p=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      grep -qx "$p" "$WORK/ports" 2>/dev/null || { echo "$p" >>"$WORK/ports"; echo "$p"; return 0; }
    fi
  done
  return 1
}

# sim METHOD PATH [BODY]: a call to the simulator's control API.
sim() {
  local data=()
  [ $# -ge 3 ] && data=(--data-binary "$3")
  curl -s --max-time 10 -X "$1" "${data[@]}" "$SIM_CONTROL$2"
}

get() { http GET "$@"; }
expect_eq() { if [ "$2" = "$3" ]; then pass "$1 ($2)"; else fail "$1: got [$2], expected [$3]"; fi; }
