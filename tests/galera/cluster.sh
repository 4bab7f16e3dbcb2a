#!/usr/bin/env bash
# A local 3-node MariaDB Galera test cluster on loopback ports, from Debian's packages
# (mariadb-server, galera-4, rsync), for the project's Galera test scenarios.
#
# Usage: bash tests/galera/cluster.sh start|stop [N]|kill N|restart N|status|wipe
#   start      install galera-4/rsync if missing, create the datadirs if absent, bootstrap one
#              node (node 1 unless another node holds newer data), join the others (rsync SST,
#              or IST when possible) and wait until all three are Synced in one Primary
#              component of size 3; prints the SQL ports. Starts only the missing nodes when
#              some are already running.
#   stop [N]   clean shutdown (SIGTERM, wait) of node N, or of all nodes (3, 2, then 1, so
#              node 1 leaves last and is the one safe to bootstrap the next `start`).
#   kill N     kill -9 of node N's mariadbd (N in 1..3).
#   restart N  start node N again (after kill or stop): it rejoins the running cluster (IST
#              when the donor's gcache still holds the missed writesets, SST otherwise) and
#              waits until it is Synced and the cluster size equals the number of running nodes.
#   status     one line per node: port, running or not, cluster size, local state.
#              Exit 0 when all three nodes are running and Synced, 3 otherwise.
#   wipe       stop, then delete GALERA_DIR.
#
# Env: GALERA_DIR     base directory (default /var/tmp/odr-galera), one nodeN/ below it with
#                     my.cnf, data/, tmp/, mariadbd.sock, mariadbd.pid, error.log
#      GALERA_PORTS   SQL port of node 1 (default 3311); node N listens on
#                     SQL   GALERA_PORTS+N-1          (3311 3312 3313)
#                     gcomm GALERA_PORTS+1200+N-1     (4511 4512 4513)
#                     IST   GALERA_PORTS+1210+N-1     (4521 4522 4523)
#                     SST   GALERA_PORTS+1220+N-1     (4531 4532 4533)
#                     so a second cluster at the same time needs its own GALERA_DIR and a base
#                     at least 30 away (e.g. GALERA_PORTS=3341: 3341-3343, 4541-4563).
#      GALERA_TIMEOUT seconds to wait for the cluster to become Synced (default 120)
#
# Every node binds 127.0.0.1 only. Connect with:  mariadb -uroot -h127.0.0.1 -P3311
# (user root, empty password). The nodes run as the system user `mysql` (see RUN_USER below).
# Never touches the shared MariaDB on 3306, its datadir /var/lib/mysql or its socket:
# mariadbd and mariadb-install-db only ever read the node's own --defaults-file, the client
# calls use --no-defaults and TCP, and the script refuses ports or directories that collide.
set -euo pipefail
export LC_ALL=C   # EPOCHREALTIME arithmetic and awk need a "." decimal point

readonly GALERA_DIR=${GALERA_DIR:-/var/tmp/odr-galera}
readonly BASE_PORT=${GALERA_PORTS:-3311}
readonly TIMEOUT=${GALERA_TIMEOUT:-120}
readonly STOP_TIMEOUT=60                 # seconds a clean shutdown may take before kill -9
readonly NODES=(1 2 3)
readonly MARIADBD=/usr/sbin/mariadbd
readonly CLUSTER_NAME=odr-galera
readonly MARKER=.odr-galera-cluster      # marks GALERA_DIR as ours, so `wipe` may delete it
# The nodes run as `mysql`, not root: the rsync SST daemon then runs as `mysql` too and can
# write the joiner's datadir. (Run as root, rsync drops privileges to `nobody`, which cannot
# write into mariadbd's 0700 database directories on any SST after the first one.)
readonly RUN_USER=mysql

say() { echo "cluster.sh: $*"; }
die() { echo "cluster.sh: error: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }   # seconds since $1
usage() { echo "usage: cluster.sh start | stop [N] | kill N | restart N | status | wipe" >&2; exit 2; }

# ---- ports and paths of node N --------------------------------------------------------------
sql_port()   { echo $((BASE_PORT + $1 - 1)); }
gcomm_port() { echo $((BASE_PORT + 1200 + $1 - 1)); }
ist_port()   { echo $((BASE_PORT + 1210 + $1 - 1)); }
sst_port()   { echo $((BASE_PORT + 1220 + $1 - 1)); }
node_dir()   { echo "$GALERA_DIR/node$1"; }
node_cnf()   { echo "$GALERA_DIR/node$1/my.cnf"; }
node_data()  { echo "$GALERA_DIR/node$1/data"; }
node_log()   { echo "$GALERA_DIR/node$1/error.log"; }
all_ports()  { local n; for n in "${NODES[@]}"; do sql_port "$n"; gcomm_port "$n"; ist_port "$n"; sst_port "$n"; done; }

check_node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || die "node number must be 1, 2 or 3 (got '${1:-}')"
}

# Refuse settings that could reach the shared MariaDB or delete something that is not ours.
check_settings() {
  if ! [[ $BASE_PORT =~ ^[0-9]+$ ]] || ((BASE_PORT < 1024 || BASE_PORT + 1222 > 65535)); then
    die "GALERA_PORTS must be a port number between 1024 and 64313 (got '$BASE_PORT')"
  fi
  local p
  for p in $(all_ports); do
    ((p != 3306)) || die "GALERA_PORTS=$BASE_PORT would use port 3306 of the shared MariaDB"
  done
  [[ $GALERA_DIR == /?* ]] || die "GALERA_DIR must be an absolute path (got '$GALERA_DIR')"
  local real
  real=$(realpath -m "$GALERA_DIR")
  case "$real" in
    / | /var | /var/tmp | /tmp | /var/lib | /var/lib/mysql | /var/lib/mysql/* | /run/mysqld*)
      die "GALERA_DIR=$GALERA_DIR is not a safe place for the test cluster" ;;
  esac
  [[ $TIMEOUT =~ ^[0-9]+$ ]] || die "GALERA_TIMEOUT must be a number of seconds"
}

need_root() { ((EUID == 0)) || die "run as root (it installs packages, chowns datadirs to $RUN_USER and signals mariadbd)"; }

# ---- processes --------------------------------------------------------------------------------
re_escape() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }

# PID of node N's mariadbd, empty when it is not running. Matched by its exact command line
# (we start it as "$MARIADBD --defaults-file=<node cnf> [...]"), so the shared server and the
# other nodes never match; a zombie has no command line and counts as not running.
node_pid() {
  pgrep -f -- "^$(re_escape "$MARIADBD") --defaults-file=$(re_escape "$(node_cnf "$1")")( |\$)" | head -n1 || true
}
running_nodes() { local n; for n in "${NODES[@]}"; do [[ -z $(node_pid "$n") ]] || echo "$n"; done; }

# SST helpers (wsrep_sst_rsync, its rsync daemon) of node $1 (default: of every node), left
# behind by a node that died mid-transfer; only called for nodes that are not running.
leftover_helpers() {
  local p cmd
  for p in $(pgrep -f -- "$(re_escape "$GALERA_DIR")/node${1:-[123]}/" || true); do
    ((p != $$)) || continue
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
    case "$cmd" in *wsrep_sst_* | "rsync --daemon"*) echo "$p" ;; esac
  done
}

# Fail unless every port of node N is free (node N itself is known not to be running).
check_ports_free() {
  local p
  for p in $(sql_port "$1") $(gcomm_port "$1") $(ist_port "$1") $(sst_port "$1"); do
    if [[ -n $(ss -Hltn "sport = :$p" 2>/dev/null) ]]; then
      die "port $p (node $1) is already in use by another process: $(ss -Hltnp "sport = :$p" | head -n1); choose other ports with GALERA_PORTS"
    fi
  done
}

# ---- SQL --------------------------------------------------------------------------------------
# Run SQL on node N over TCP; --no-defaults keeps /etc/mysql (the shared server's socket) out.
sql() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"$(sql_port "$1")" -uroot \
    --connect-timeout=3 -N -B -e "$2" 2>/dev/null
}

# "size state ready status last_committed" of node N, or nothing when it does not answer.
wsrep_state() {
  local out
  out=$(sql "$1" "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size',
        'wsrep_local_state_comment','wsrep_ready','wsrep_cluster_status','wsrep_last_committed')") || return 0
  awk '{v[$1]=$2} END {if (length(v)) print v["wsrep_cluster_size"], v["wsrep_local_state_comment"],
       v["wsrep_ready"], v["wsrep_cluster_status"], v["wsrep_last_committed"]}' <<<"$out"
}

# ---- packages, directories, configuration -------------------------------------------------------
ensure_packages() {
  local missing=() pkg
  for pkg in galera-4 rsync iproute2; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  # mariadb-server itself is expected (it also runs the shared server): not installed here.
  if [[ ! -x $MARIADBD ]] || ! command -v mariadb-install-db >/dev/null || ! command -v mariadb >/dev/null; then
    die "mariadb-server and mariadb-client (10.11) must be installed"
  fi
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi
}

galera_provider() {
  local lib
  for lib in /usr/lib/galera/libgalera_smm.so $(dpkg -L galera-4 2>/dev/null | grep '/libgalera_smm\.so$'); do
    [[ -f $lib ]] && { echo "$lib"; return; }
  done
  die "libgalera_smm.so not found (dpkg -L galera-4)"
}

# Write node N's option file. The only file mariadbd, the SST scripts and mariadb-install-db
# read for this node; rewritten on every start so changes to this script take effect.
write_cnf() {
  local n=$1 d gcomm="" m
  d=$(node_dir "$n")
  for m in "${NODES[@]}"; do gcomm+="${gcomm:+,}127.0.0.1:$(gcomm_port "$m")"; done
  cat >"$(node_cnf "$n")" <<EOF
# Generated by tests/galera/cluster.sh: node $n of the local Galera test cluster.
[mysqld]
user                           = $RUN_USER
basedir                        = /usr
datadir                        = $d/data
tmpdir                         = $d/tmp
socket                         = $d/mariadbd.sock
pid-file                       = $d/mariadbd.pid
log-error                      = $d/error.log
bind-address                   = 127.0.0.1
port                           = $(sql_port "$n")
skip-name-resolve
# Same character set as the shared server on 3306.
character-set-server           = utf8mb4
collation-server               = utf8mb4_general_ci
# Small: the machine also runs builds.
performance_schema             = OFF
innodb_buffer_pool_size        = 64M
innodb_log_file_size           = 48M
key_buffer_size                = 8M
aria_pagecache_buffer_size     = 8M
max_connections                = 100
# Galera requirements.
binlog_format                  = ROW
default_storage_engine         = InnoDB
innodb_autoinc_lock_mode       = 2
wsrep_on                       = ON
wsrep_provider                 = $(galera_provider)
wsrep_cluster_name             = $CLUSTER_NAME
wsrep_cluster_address          = gcomm://$gcomm
wsrep_node_name                = node$n
wsrep_node_address             = 127.0.0.1
wsrep_node_incoming_address    = 127.0.0.1:$(sql_port "$n")
# pc.recovery=FALSE: no automatic primary-component recovery from gvwstate.dat; this script
# decides which node bootstraps. gcache 128M keeps IST possible after a node's downtime.
wsrep_provider_options         = "gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n");gcache.size=128M;pc.recovery=FALSE"
wsrep_sst_method               = rsync
wsrep_sst_receive_address      = 127.0.0.1:$(sst_port "$n")
EOF
}

# Create node N's directories (if absent) and (re)write its config.
prepare_node() {
  local n=$1 d data
  d=$(node_dir "$n")
  data=$(node_data "$n")
  mkdir -p "$d/tmp" "$data"
  write_cnf "$n"
  chown "$RUN_USER:$RUN_USER" "$d" "$d/tmp" "$data"
  chmod 0750 "$d" "$data"
  chmod 0644 "$d/my.cnf"
}

# Initialise node N's empty datadir. --defaults-file comes first, so the shared server's
# /etc/mysql/my.cnf (datadir /var/lib/mysql) is never read; bootstrap mode does not load the
# wsrep provider. normal: root@localhost, root@127.0.0.1 and root@::1 with an empty password.
install_datadir() {
  local n=$1 data
  data=$(node_data "$n")
  if ! mariadb-install-db --defaults-file="$(node_cnf "$n")" --user="$RUN_USER" \
    --datadir="$data" --auth-root-authentication-method=normal --skip-test-db \
    >"$(node_dir "$n")/install-db.log" 2>&1; then
    tail -n 20 "$(node_dir "$n")/install-db.log" >&2
    find "$data" -mindepth 1 -delete   # half a datadir would pass for a complete one next time
    return 1
  fi
}

# Create GALERA_DIR and the three nodes' directories; initialise the missing datadirs (in
# parallel: nodes 2 and 3 get theirs replaced by an SST anyway, so only wall time matters).
prepare_dirs() {
  if [[ ! -d $GALERA_DIR ]]; then
    mkdir -p "$GALERA_DIR"
    touch "$GALERA_DIR/$MARKER"
  fi
  [[ -f $GALERA_DIR/$MARKER ]] || die "$GALERA_DIR exists but was not created by cluster.sh (no $MARKER)"
  chmod 0755 "$GALERA_DIR"   # `mysql` must be able to traverse it
  local n t0=$EPOCHREALTIME pids=() nodes=() i failed=""
  for n in "${NODES[@]}"; do
    prepare_node "$n"
    [[ ! -d $(node_data "$n")/mysql ]] || continue
    install_datadir "$n" &
    pids+=($!) nodes+=("$n")
  done
  ((${#pids[@]})) || return 0
  for i in "${!pids[@]}"; do
    wait "${pids[i]}" || failed+=" ${nodes[i]}"
  done
  [[ -z $failed ]] || die "mariadb-install-db failed for node(s)$failed (see $GALERA_DIR/node*/install-db.log)"
  say "created datadirs of node(s) ${nodes[*]} with mariadb-install-db in $(elapsed "$t0") s"
}

# ---- Galera state on disk -----------------------------------------------------------------------
grastate() { sed -n "s/^$2:[[:space:]]*//p" "$(node_data "$1")/grastate.dat" 2>/dev/null | head -n1; }

# Position (uuid:seqno) InnoDB holds for node N, by a `mariadbd --wsrep-recover` run, as
# mysqld_safe does; empty when it cannot be recovered. Needed after a crash (kill -9): then
# grastate.dat says seqno -1 and, started without --wsrep_start_position, the node would
# join with an unknown state and get a full SST instead of an IST.
recover_position() {
  local n=$1 out
  out=$("$MARIADBD" --defaults-file="$(node_cnf "$n")" --wsrep-recover --disable-log-error \
    --pid-file="$(node_dir "$n")/tmp/recover.pid" 2>&1 || true)
  sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]\{36\}:[0-9]\{1,\}\).*/\1/p' <<<"$out" | tail -n1
}

# Last committed seqno of node N on disk: -2 without Galera state, -1 when unknown.
disk_seqno() {
  local n=$1 seq pos
  seq=$(grastate "$n" seqno)
  [[ -n $seq ]] || { echo -2; return; }
  if [[ $seq == -1 ]]; then
    pos=$(recover_position "$n")
    [[ -z $pos ]] || seq=${pos##*:}
  fi
  echo "$seq"
}

# The node to bootstrap when no node runs: the one Galera marked safe_to_bootstrap (the last
# to leave cleanly), else the one with the most recent data, ties and fresh clusters: node 1.
# Bootstrapping a node that is behind would make the others abort ("states diverged").
choose_bootstrap() {
  local n best=1 best_seq=-3 seq
  for n in "${NODES[@]}"; do
    [[ $(grastate "$n" safe_to_bootstrap) == 1 ]] && { echo "$n"; return; }
  done
  for n in "${NODES[@]}"; do
    seq=$(disk_seqno "$n")
    ((seq > best_seq)) && { best=$n; best_seq=$seq; }
  done
  echo "$best"
}

# ---- starting, waiting, stopping ------------------------------------------------------------------
# Start node N's mariadbd in the background, detached (own session, stdio to files).
launch() {
  local n=$1 pos; shift
  kill_helpers "$n"
  check_ports_free "$n"
  if [[ $(grastate "$n" seqno) == -1 ]]; then
    pos=$(recover_position "$n")
    if [[ -n $pos ]]; then
      say "node $n: recovered position $pos after an unclean stop"
      set -- "$@" --wsrep_start_position="$pos"
    fi
  fi
  # A subshell with all its stdio on files, other inherited descriptors closed, replaced by
  # setsid and then mariadbd: nothing keeps the caller's pipes open (`out=$(cluster.sh start)`
  # returns) and nothing waits for mariadbd.
  (
    cd / || exit 1
    for fd in "/proc/$BASHPID/fd"/*; do
      fd=${fd##*/}
      if ((fd > 2 && fd < 255)); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    exec setsid "$MARIADBD" --defaults-file="$(node_cnf "$n")" "$@"
  ) </dev/null >>"$(node_dir "$n")/stdout.log" 2>&1 &
  disown   # no "Killed" job report from this script if the node dies while we wait for it
}

# Wait (until the epoch second $1) for nodes $2... to be running, Synced, wsrep_ready=ON, in the
# Primary component, with a cluster size equal to the number of running nodes.
wait_synced() {
  local deadline=$1; shift
  local n state size comment ready status pending want
  while :; do
    pending=""
    want=$(running_nodes | wc -l)
    for n in "$@"; do
      if [[ -z $(node_pid "$n") ]]; then
        tail -n 15 "$(node_log "$n")" >&2 || true
        die "node $n: mariadbd is not running (log: $(node_log "$n"))"
      fi
      state=$(wsrep_state "$n")
      read -r size comment ready status _ <<<"$state" || true
      if [[ ${size:-} != "$want" || ${comment:-} != Synced || ${ready:-} != ON || ${status:-} != Primary ]]; then
        pending+=" node$n(${state:-not answering})"
      fi
    done
    [[ -z $pending ]] && return 0
    if ((EPOCHSECONDS >= deadline)); then
      die "timed out after ${TIMEOUT}s waiting for:$pending (size state ready status seqno; logs: $GALERA_DIR/node*/error.log)"
    fi
    sleep 0.5
  done
}

# How node N got its state in its latest start (from the new part of its error log).
transfer_kind() {
  local part
  part=$(tail -c +"$(($2 + 1))" "$(node_log "$1")" 2>/dev/null || true)
  if grep -q 'rsync SST completed on joiner' <<<"$part"; then echo "full rsync SST"
  elif grep -q 'IST completed on joiner\|IST received' <<<"$part"; then echo "IST"
  else echo "no state transfer"; fi
}

# Start node N so that it joins the running Primary component, wait until it is Synced.
join_node() {
  local n=$1 deadline=$2 t0=$EPOCHREALTIME logsize
  logsize=$(stat -c %s "$(node_log "$n")" 2>/dev/null || echo 0)
  say "node $n: joining the cluster on 127.0.0.1:$(sql_port "$n")"
  launch "$n"
  wait_synced "$deadline" "$n"
  say "node $n: Synced, cluster size $(running_nodes | wc -l), after $(elapsed "$t0") s ($(transfer_kind "$n" "$logsize"))"
}

# When nodes run but none is in a Primary component (quorum lost, e.g. two nodes killed at
# once), make the most advanced running node bootstrap a new Primary component.
ensure_primary() {
  local n state best="" best_seq=-3 seq
  for n in $(running_nodes); do
    state=$(wsrep_state "$n")
    [[ $(awk '{print $4}' <<<"$state") == Primary ]] && return 0
    seq=$(awk '{print $5}' <<<"$state")
    [[ $seq =~ ^-?[0-9]+$ ]] && ((seq > best_seq)) && { best=$n; best_seq=$seq; }
  done
  [[ -n $best ]] || return 0   # nodes still starting; wait_synced will tell
  say "node $best: no Primary component among the running nodes, bootstrapping one (pc.bootstrap=YES)"
  sql "$best" "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'" || die "pc.bootstrap on node $best failed"
}

# Clean shutdown of node N: SIGTERM, wait; kill -9 only if it hangs for STOP_TIMEOUT seconds.
stop_node() {
  local n=$1 pid t0=$EPOCHREALTIME killed=0
  pid=$(node_pid "$n")
  [[ -n $pid ]] || { say "node $n: not running"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  while [[ -n $(node_pid "$n") ]]; do
    if ((killed == 0 && ${EPOCHREALTIME%.*} - ${t0%.*} >= STOP_TIMEOUT)); then
      say "node $n: no clean shutdown after ${STOP_TIMEOUT}s, kill -9 $pid"
      kill -KILL "$pid" 2>/dev/null || true
      killed=1
    fi
    ((${EPOCHREALTIME%.*} - ${t0%.*} < STOP_TIMEOUT + 10)) || die "node $n: mariadbd $pid does not go away"
    sleep 0.2
  done
  wait_reaped "$pid" 10
  say "node $n: stopped (pid $pid, $(elapsed "$t0") s)"
}

# Wait up to $2 seconds until process $1 is gone from the process table. A node's mariadbd is
# parented to PID 1 (we detach it), and PID 1 here reaps orphans only every second or so;
# until then the dead node lingers as "[mariadbd] <defunct>" in pgrep/ps.
wait_reaped() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [[ -e /proc/$1 ]] || return 0
    sleep 0.1
  done
}

kill_helpers() {
  local pids
  mapfile -t pids < <(leftover_helpers "$@")
  ((${#pids[@]})) || return 0
  say "stopping leftover SST helpers: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  sleep 2
  mapfile -t pids < <(leftover_helpers "$@")
  ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
}

# ---- subcommands -------------------------------------------------------------------------------
cmd_start() {
  need_root
  ensure_packages
  local t0=$EPOCHREALTIME tb n boot deadline
  for n in "${NODES[@]}"; do   # before creating anything: the ports of the nodes to start
    [[ -n $(node_pid "$n") ]] || check_ports_free "$n"
  done
  prepare_dirs
  deadline=$((EPOCHSECONDS + TIMEOUT))
  if [[ -z $(running_nodes) ]]; then
    kill_helpers
    boot=$(choose_bootstrap)
    if [[ -f $(node_data "$boot")/grastate.dat ]]; then
      sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$(node_data "$boot")/grastate.dat"
      chown "$RUN_USER:$RUN_USER" "$(node_data "$boot")/grastate.dat"
    fi
    for n in "${NODES[@]}"; do rm -f "$(node_data "$n")/gvwstate.dat"; done
    say "node $boot: bootstrapping a new cluster on 127.0.0.1:$(sql_port "$boot")"
    tb=$EPOCHREALTIME
    launch "$boot" --wsrep-new-cluster
    deadline=$((EPOCHSECONDS + TIMEOUT))
    wait_synced "$deadline" "$boot"
    say "node $boot: Synced (bootstrap), cluster size 1, after $(elapsed "$tb") s"
  else
    ensure_primary
  fi
  for n in "${NODES[@]}"; do
    [[ -n $(node_pid "$n") ]] || join_node "$n" "$deadline"
  done
  wait_synced "$deadline" "${NODES[@]}"
  sql 1 'select 1' >/dev/null || die "node 1 does not answer 'select 1' as root@127.0.0.1"
  say "cluster up: 3 nodes Synced, cluster size 3, in $(elapsed "$t0") s; SQL ports: $(sql_port 1) $(sql_port 2) $(sql_port 3)"
}

cmd_stop() {
  need_root
  if [[ -n ${1:-} ]]; then
    check_node_arg "$1"
    stop_node "$1"
    return
  fi
  local n
  for n in 3 2 1; do stop_node "$n"; done
  kill_helpers
  say "all nodes stopped"
}

cmd_kill() {
  need_root
  check_node_arg "${1:-}"
  local n=$1 pid i
  pid=$(node_pid "$n")
  [[ -n $pid ]] || { say "node $n: not running"; return 0; }
  kill -KILL "$pid"
  for ((i = 0; i < 50; i++)); do
    [[ -n $(node_pid "$n") ]] || break
    sleep 0.2
  done
  [[ -z $(node_pid "$n") ]] || die "node $n: mariadbd $pid still there after kill -9"
  wait_reaped "$pid" 5
  say "node $n: killed (kill -9 $pid)"
}

cmd_restart() {
  need_root
  check_node_arg "${1:-}"
  local n=$1 deadline=$((EPOCHSECONDS + TIMEOUT)) others
  [[ -f $(node_cnf "$n") ]] || die "node $n has no configuration; run 'cluster.sh start' first"
  if [[ -n $(node_pid "$n") ]]; then
    wait_synced "$deadline" "$n"
    say "node $n: already running and Synced, cluster size $(running_nodes | wc -l)"
    return 0
  fi
  others=$(running_nodes)
  [[ -n $others ]] || die "no other node is running, so node $n has no cluster to join; use 'cluster.sh start'"
  ensure_packages
  prepare_node "$n"   # rewrites its config; an emptied datadir is filled by the SST
  ensure_primary
  join_node "$n" "$deadline"
}

cmd_status() {
  local n pid state size comment ready status all_ok=1
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    if [[ -z $pid ]]; then
      echo "node$n port $(sql_port "$n"): not running"
      all_ok=0
      continue
    fi
    state=$(wsrep_state "$n")
    if [[ -z $state ]]; then
      echo "node$n port $(sql_port "$n"): running (pid $pid), SQL not answering yet"
      all_ok=0
      continue
    fi
    read -r size comment ready status _ <<<"$state"
    echo "node$n port $(sql_port "$n"): running (pid $pid), cluster size $size, state $comment, ready $ready, $status"
    [[ $comment == Synced ]] || all_ok=0
  done
  ((all_ok)) || return 3
}

cmd_wipe() {
  need_root
  if [[ ! -d $GALERA_DIR ]]; then
    say "nothing to wipe: $GALERA_DIR does not exist"
    return 0
  fi
  [[ -f $GALERA_DIR/$MARKER ]] || die "$GALERA_DIR was not created by cluster.sh (no $MARKER); not deleting it"
  cmd_stop
  rm -rf -- "$GALERA_DIR"
  say "wiped $GALERA_DIR"
}

main() {
  check_settings
  case "${1:-}" in
    start)   cmd_start ;;
    stop)    cmd_stop "${2:-}" ;;
    kill)    cmd_kill "${2:-}" ;;
    restart) cmd_restart "${2:-}" ;;
    status)  cmd_status ;;
    wipe)    cmd_wipe ;;
    *)       usage ;;
  esac
}

main "$@"
