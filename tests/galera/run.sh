#!/usr/bin/env bash
# Galera suite of odr-operations (issue 15): the real binary on a 3-node MariaDB Galera cluster
# (tests/galera/cluster.sh), each service node on its own Galera node, nginx round-robin in
# front, `odr-operations simulate` for the fakes (scripted through its control API), curl as
# cron and the `mariadb` client for every check. Black-box: nothing of the service is imported.
#
# Scenarios (each prints its checks and one PASS/FAIL line with its figures):
#   startup            three `serve` started at the same instant on a fresh database, one per
#                      Galera node, migrations on; repeated GALERA_STARTUP_ROUNDS times
#   storm              cron storm through nginx over three nodes on three Galera nodes while the
#                      four status/alarm pages are polled on every node
#   kill-db-node       kill -9 of the Galera node under the node running two slices; the others
#                      take over, the killed node rejoins by IST and its service node recovers
#   inprogress-resend  the Galera node under a node with letters in flight is restarted, then
#                      (second round) cut off from the cluster (gmcast.isolate); the letters
#                      left InProgress are resent with their MessageId and dropped as
#                      duplicates by the fake Digital Post
#   write-conflicts    ErrorEvent and JobRun writes that two nodes make at once while both
#                      prune the same old rows: conflicts retried, the slices' reason stays
#                      PersonInformation's, every call recorded in JobRun exactly once
#
# Usage: bash tests/galera/run.sh [scenario ...]      (default: all, in the order above)
# Env:   GALERA_BIN             run this binary instead of `cargo build --release --features mariadb`
#        GALERA_SIM_BIN         run `simulate` (the fakes) from this binary (default: the same; lets
#                               an older build without `simulate` serve, to show what it fails)
#        GALERA_KEEP=1          keep the cluster running, the databases and the work dir (a
#                               cluster that already ran before the suite is used and left running)
#        GALERA_STORM_SECONDS   length of the storm (default 60)
#        GALERA_STARTUP_ROUNDS  simultaneous starts (default 3)
#        GALERA_CONFLICT_ROUNDS simultaneous calls per part of write-conflicts (default 25)
#        GALERA_CITIZENS        size of the seeded population (default 20000)
#        GALERA_SEED            seed of the population (default 20260409)
#        GALERA_DIR, GALERA_PORTS, GALERA_TIMEOUT: passed on to cluster.sh (SQL ports
#                               GALERA_PORTS..+2, default 3311-3313)
# Ends with `N passed, M failed`; exit code 0 only when nothing failed. Every loop is bounded.
# Never touches the shared MariaDB on 3306: every SQL call names a Galera port, with
# --no-defaults. Needs root (cluster.sh installs galera-4/rsync and runs the nodes as mysql).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/suite.sh
. "$ROOT/tests/suite.sh"
CLUSTER_SH=$ROOT/tests/galera/cluster.sh
SEED=${GALERA_SEED:-20260409}
STORM_SECONDS=${GALERA_STORM_SECONDS:-60}
STARTUP_ROUNDS=${GALERA_STARTUP_ROUNDS:-3}
CITIZENS=${GALERA_CITIZENS:-20000}
BASE_PORT=${GALERA_PORTS:-3311}
G_PORT=([1]=$BASE_PORT [2]=$((BASE_PORT + 1)) [3]=$((BASE_PORT + 2)))
BIN=${GALERA_BIN:-$ROOT/target/release/odr-operations}
SIM_BIN=${GALERA_SIM_BIN:-$BIN}
WORK=$(mktemp -d /tmp/odr-galera-suite.XXXXXX)
PIDFILE=$WORK/pids     # "pid<TAB>what<TAB>scenario" of every process this suite started
DBFILE=$WORK/dbs       # every database this suite created on the cluster
: >"$PIDFILE"
: >"$DBFILE"
SUITE_START=$SECONDS
STARTED_CLUSTER=0
RANDOM=$SEED

for p in "${G_PORT[@]}"; do
  [ "$p" != 3306 ] || { echo "GALERA_PORTS=$BASE_PORT would reach the shared MariaDB on 3306" >&2; exit 2; }
done

STARTS=(
  /odr-operations/odr-slettejob/deceased/start
  /odr-operations/odr-slettejob/emigrated/start
  /odr-operations/odr-send-digitalpost-notifikation/start
)
SLET_STATUS=/odr-operations/odr-slettejob/status
SLET_ALARM=/odr-operations/odr-slettejob/alarm
NOTI_STATUS=/odr-operations/odr-send-digitalpost-notifikation/status
NOTI_ALARM=/odr-operations/odr-send-digitalpost-notifikation/alarm
PAGES=("$SLET_STATUS" "$SLET_ALARM" "$NOTI_STATUS" "$NOTI_ALARM")
DB_LINE='Der er ingen forbindelse til databasen med JNDI navnet java:jboss/datasources/ODR-DS'
DECEASED=OrganDonorDeceasedCleanup
EMIGRATED=OrganDonorEmigratedCleanup
NOTIFICATION=OrganDonorNotification
# A database failure in a start answer: `Failed: databasefejl: ...` (a statement failed) or
# `Failed: databasen kunne ikke nås: ...` (no connection).
DB_FAILED_RE=': Failed: (databasefejl|databasen kunne ikke nås): '

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------- processes and clean-up

# Only recorded processes are ever signalled, and only while their command line still
# contains what was started (a reused pid is never hit).
remember() { printf '%s\t%s\t%s\n' "$1" "$2" "${SCEN:-suite}" >>"$PIDFILE"; }
forget() { sed -i "/^$1\t/d" "$PIDFILE"; }
# A child still running (not gone, not a zombie). Unlike `ours`, also true in the moment between
# the fork and the exec of a started process, when its command line is still the suite's.
alive() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
# signal SIG [scenario]: every recorded process (of that scenario), newest first.
signal_recorded() {
  local sig=$1 scen=${2:-} pid what s
  while IFS=$'\t' read -r pid what s; do
    [ -n "$pid" ] || continue
    if [ -z "$scen" ] || [ "$s" = "$scen" ]; then
      if ours "$pid" "$what"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
    fi
  done < <(tac "$PIDFILE")
}
any_recorded_alive() {
  local scen=${1:-} pid what s
  while IFS=$'\t' read -r pid what s; do
    if [ -z "$scen" ] || [ "$s" = "$scen" ]; then ours "$pid" "$what" && return 0; fi
  done <"$PIDFILE"
  return 1
}
# TERM, up to 20 s for graceful stops (a slice stops at its next commit), then KILL.
# shellcheck disable=SC2120 # called with a scenario name from the scenarios' EXIT trap
stop_recorded() {
  signal_recorded TERM "${1:-}"
  local i
  for i in $(seq 1 200); do
    any_recorded_alive "${1:-}" || return 0
    sleep 0.1
  done
  signal_recorded KILL "${1:-}"
}
# Stop one recorded process (by pid) and wait for it.
stop_pid() {
  local pid=$1 what=$2 i
  ours "$pid" "$what" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do ours "$pid" "$what" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

running_galera_node() {
  local n
  for n in 1 2 3; do
    mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"${G_PORT[$n]}" -uroot --connect-timeout=3 -N -e 'select 1' \
      >/dev/null 2>&1 && { echo "$n"; return 0; }
  done
  return 1
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_recorded
  if [ "${GALERA_KEEP:-0}" != 1 ]; then
    local n db
    if n=$(running_galera_node); then
      while read -r db; do
        [ -n "$db" ] || continue
        mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"${G_PORT[$n]}" -uroot --connect-timeout=5 \
          -e "drop database if exists \`$db\`" 2>/dev/null || true
      done < <(sort -u "$DBFILE")
    fi
    if [ "$STARTED_CLUSTER" = 1 ]; then
      log "stopping the Galera cluster (GALERA_KEEP=1 keeps it)"
      bash "$CLUSTER_SH" stop >"$WORK/cluster-stop.log" 2>&1 || { cat "$WORK/cluster-stop.log"; log "cluster.sh stop failed"; }
    elif [ -n "${CLUSTER_WAS_UP:-}" ]; then
      log "the Galera cluster was running before the suite: left running"
    fi
    rm -rf "$WORK"
  else
    log "GALERA_KEEP=1: kept the cluster, the databases ($(sort -u "$DBFILE" | tr '\n' ' ')) and $WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites

ensure_tools() {
  local missing=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    # The suite runs its own nginx; keep the package from starting the system service.
    local policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=1
    fi
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    [ $policy = 0 ] || rm -f /usr/sbin/policy-rc.d
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

build() {
  if [ -n "${GALERA_BIN:-}" ]; then
    [ -x "$BIN" ] || { echo "GALERA_BIN=$BIN is not an executable" >&2; exit 2; }
    log "using GALERA_BIN=$BIN"
    return 0
  fi
  log "cargo build --release --features mariadb"
  (cd "$ROOT" && cargo build --release --features mariadb --quiet)
}

cluster_up() {
  if bash "$CLUSTER_SH" status >/dev/null 2>&1; then
    CLUSTER_WAS_UP=1
    log "the Galera cluster already runs (3 nodes Synced); using it"
    return 0
  fi
  log "starting the Galera cluster (tests/galera/cluster.sh start)"
  STARTED_CLUSTER=1
  if ! bash "$CLUSTER_SH" start >"$WORK/cluster-start.log" 2>&1; then
    cat "$WORK/cluster-start.log" >&2
    return 1
  fi
  sed 's/^/    /' "$WORK/cluster-start.log"
}

# After a scenario: all three Galera nodes back (a failed scenario may leave one down).
cluster_heal() {
  bash "$CLUSTER_SH" status >/dev/null 2>&1 && return 0
  log "a Galera node is down after the scenario: cluster.sh start"
  bash "$CLUSTER_SH" start >"$WORK/cluster-heal.log" 2>&1 || { cat "$WORK/cluster-heal.log" >&2; return 1; }
}


# ---------------------------------------------------------------- SQL

# gq N SQL: on Galera node N, in the scenario's database, UTC (as the service's sessions, so
# NOW(6) compares with the stored instants) and wsrep_sync_wait = 1 (sees every node's writes).
gq() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"${G_PORT[$1]}" -uroot --connect-timeout=5 -N -B "$DB" \
    -e "SET SESSION time_zone = '+00:00', SESSION wsrep_sync_wait = 1; $2"
}
QN=1   # the Galera node the checks read through (never the one a scenario takes down)
q() { gq "$QN" "$1"; }
# gq_server N SQL: without a database.
gq_server() {
  mariadb --no-defaults --protocol=TCP -h127.0.0.1 -P"${G_PORT[$1]}" -uroot --connect-timeout=5 -N -B -e "$2"
}

# ---------------------------------------------------------------- nginx

# start_nginx SERVICE-NODE...: round-robin over those nodes; sets LB.
start_nginx() {
  local port d=$SDIR/nginx n servers=""
  port=$(free_port)
  mkdir -p "$d/tmp" "$d/logs"
  for n in "$@"; do servers+="    server 127.0.0.1:${NODE_PORT[$n]} max_fails=0;"$'\n'; done
  cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log $d/logs/access.log;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  upstream odr {
    # round-robin over the service nodes; max_fails=0 keeps every node in the rotation
$servers  }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://odr;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 120s;
    }
  }
}
EOF
  "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" &
  local pid=$! i
  remember "$pid" nginx
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { LB=http://127.0.0.1:$port; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$d/logs/error.log" >&2 || true
  return 1
}

# ---------------------------------------------------------------- simulator and service nodes

# A database of this suite; the name carries "sim", which `simulate --seed-db` requires.
db_name() { echo "odr_galera_sim_$1"; }

# setup_sim "simulate args": the population in a fresh database (created through Galera node
# 1) and the fakes; waits until every Galera node sees the database.
setup_sim() {
  DB=$(db_name "${SCEN//-/_}${SIM_SUFFIX:-}")
  echo "$DB" >>"$DBFILE"
  # shellcheck disable=SC2086
  (cd "$SDIR" && exec "$SIM_BIN" simulate --citizens "$CITIZENS" --seed "$SEED" \
    --seed-db "mysql://root@127.0.0.1:${G_PORT[1]}/$DB" --ready-file "$SDIR/sim.ready" $1 >"$SDIR/sim.log" 2>&1) &
  SIM_PID=$!
  remember "$SIM_PID" "odr-operations simulate"
  local i n
  for i in $(seq 1 1200); do
    [ -f "$SDIR/sim.ready" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || { tail -20 "$SDIR/sim.log" >&2; return 1; }
    sleep 0.1
  done
  [ -f "$SDIR/sim.ready" ] || { echo "simulate not ready after 120 s" >&2; return 1; }
  # shellcheck disable=SC1091
  . "$SDIR/sim.ready"
  for n in 1 2 3; do
    for i in $(seq 1 100); do
      [ "$(gq "$n" 'select count(*) from JobLock' 2>/dev/null || true)" = 3 ] && break
      sleep 0.1
    done
    [ "$(gq "$n" 'select count(*) from JobLock' 2>/dev/null || true)" = 3 ] || { echo "Galera node $n does not see $DB" >&2; return 1; }
  done
  if [ ! -s "$WORK/cprs.txt" ]; then q "select Cpr from v2_person_simplified" | sort -u >"$WORK/cprs.txt"; fi
}

dp_stat() { sim GET /dp/stats | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# node_props N GALERA-NODE: service node N's properties (NODE_EXTRA: the scenario's keys).
# The seeded dates end today (Copenhagen); the lag tolerance is wider than --recent-dates so a
# scenario that crosses midnight does not see its first date turn stale and the alarm page 500.
node_props() {
  cat <<EOF
server.bind=127.0.0.1:${NODE_PORT[$1]}
datasource.odr.url=mysql://root@127.0.0.1:${G_PORT[$2]}/$DB
datasource.odr.pool.size=10
personinformation.url=${SIM_PI_URL:-http://127.0.0.1:9/pi}
digitalpost.service.url=${SIM_DP_URL:-http://127.0.0.1:9/dp}
personinformation.defaultConnectionTimeoutMs=10000
digitalpost.default.connection.timeout.ms=10000
logging.config=$ROOT/log4rs.yaml
${SIM_STARTDATE:+digitalpost.notification.odr.startdate=$SIM_STARTDATE}
digitalpost.notification.odr.alarm.date.period=P7D
${NODE_EXTRA:-}
EOF
}

node_dir() { echo "$SDIR/node$1"; }
node_what() { echo "odr-operations --config $(node_dir "$1")/operations.properties serve"; }
node_url() { echo "http://127.0.0.1:${NODE_PORT[$1]}"; }

# launch_node N GALERA-NODE [barrier-file]: starts service node N against Galera node G (after
# the barrier file appears, when given); does not wait.
launch_node() {
  local n=$1 g=$2 barrier=${3:-} dir
  dir=$(node_dir "$n")
  mkdir -p "$dir"
  [ -n "${NODE_PORT[$n]:-}" ] || NODE_PORT[$n]=$(free_port)
  node_props "$n" "$g" >"$dir/operations.properties"
  (
    cd "$dir"
    if [ -n "$barrier" ]; then
      for _ in $(seq 1 3000); do [ -e "$barrier" ] && break; sleep 0.005; done
    fi
    exec "$BIN" --config "$dir/operations.properties" serve >>"$dir/console.log" 2>&1
  ) &
  NODE_PID[$n]=$!
  remember "${NODE_PID[$n]}" "$(node_what "$n")"
}

status_code() { curl -s -o /dev/null -w '%{http_code}' --max-time "${2:-2}" "$(node_url "$1")$SLET_STATUS" || true; }

# wait_ready N SECONDS: status 200 (0), else 1.
wait_ready() {
  local n=$1 secs=${2:-30} i
  for i in $(seq 1 $((secs * 10))); do
    [ "$(status_code "$n")" = 200 ] && return 0
    alive "${NODE_PID[$n]}" || { tail -20 "$(node_dir "$n")/console.log" >&2; return 1; }
    sleep 0.1
  done
  return 1
}

start_node() { launch_node "$1" "$2"; wait_ready "$1" 30 || { echo "service node $1 not ready" >&2; return 1; }; }

# The service node (1..3) whose process is the JobLock owner "host:pid", else 0.
node_of_owner() {
  local pid=${1##*:} n
  for n in 1 2 3; do [ "${NODE_PID[$n]:-x}" = "$pid" ] && { echo "$n"; return; }; done
  echo 0
}

# ---------------------------------------------------------------- HTTP and checks

http() {
  local method=$1 url=$2 f
  shift 2
  f=$(mktemp "$SDIR/answer.XXXXXX")
  CODE=$(curl -s --max-time 120 -X "$method" -o "$f" -w '%{http_code}' "$@" "$url" || true)
  BODY=$(cat "$f")
}

SC_FAILS=0
FIGURES=""
figure() { FIGURES="${FIGURES:+$FIGURES; }$*"; }
pass() { printf '    ok    %s\n' "$*"; }
fail() { printf '    FAIL  %s\n' "$*"; SC_FAILS=$((SC_FAILS + 1)); }
expect_has() { if grep -qF -- "$3" <<<"$2"; then pass "$1"; else fail "$1: [$(head -c 400 <<<"$2")] lacks [$3]"; fi; }
expect_re() { if grep -qE -- "$3" <<<"$2"; then pass "$1: $(head -c 160 <<<"$2")"; else fail "$1: [$(head -c 400 <<<"$2")] does not match /$3/"; fi; }
expect_lacks() { if grep -qF -- "$3" <<<"$2"; then fail "$1: [$(head -c 400 <<<"$2")] contains [$3]"; else pass "$1"; fi; }

# Failed answers of the scenario, counted as they come (FAILED_ANSWERS: unexpected ones).
EXPECTED_FAILED=0
FAILED_ANSWERS=0
note_answer() { # BODY expected(0|1)
  grep -q ': Failed: ' <<<"$1" || return 0
  if [ "$2" = 1 ]; then EXPECTED_FAILED=$((EXPECTED_FAILED + 1)); else FAILED_ANSWERS=$((FAILED_ANSWERS + 1)); fi
}

# Calls each start URL until its job answers Finished (bounded); DRAIN_CALLS counts the calls.
DRAIN_CALLS=0
drain() {
  local base=$1 path n line
  for path in "${STARTS[@]}"; do
    for n in $(seq 1 200); do
      get "$base$path"
      DRAIN_CALLS=$((DRAIN_CALLS + 1))
      line=$BODY
      note_answer "$line" 0
      [ "$CODE" = 200 ] || { echo "drain $path: HTTP $CODE: $line" >&2; return 1; }
      if grep -q ': Finished after ' <<<"$line"; then break; fi
      if grep -q 'kører allerede' <<<"$line"; then sleep 0.2; fi
    done
    grep -q ': Finished after ' <<<"$line" || { echo "drain $path: not finished: $line" >&2; return 1; }
    grep -q 'waiting for an operator' <<<"$line" && { echo "drain $path: $line" >&2; return 1; }
  done
  return 0
}

# Who must be removed, closed or written to, before any slice (zz_* tables in the scenario's
# throwaway database; with primary keys, as Galera wants).
snapshot() {
  T0=$(q "select NOW(6)")
  q "create table zz_people (Cpr char(10) not null primary key, Status char(2), StatusDate date null,
       BirthDate date, regs int, active int, dead_long tinyint, emigrated tinyint, due tinyint) engine=InnoDB;
     insert into zz_people
       select p.Cpr, p.Status, p.StatusDate, p.BirthDate,
              (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr),
              (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr and r.ValidTo is null),
              (p.Status = '90' and p.StatusDate <= DATE_SUB('$SIM_TODAY', INTERVAL 12 MONTH)),
              (p.Status = '80'),
              (p.Status in ('01','03','05','07') and
               DATE_SUB(DATE_ADD(p.BirthDate, INTERVAL 18 YEAR), INTERVAL 14 DAY) between '$SIM_STARTDATE' and '$SIM_TODAY')
       from v2_person_simplified p;
     create table zz_runs like JobRun;"
  E_DUE=$(q "select count(*) from zz_people where due")
  E_DEAD=$(q "select count(*) from zz_people where dead_long and regs > 0")
  E_EMI=$(q "select count(*) from zz_people where emigrated and active > 0")
  E_EMI_ROWS=$(q "select coalesce(sum(active),0) from zz_people where emigrated")
  E_DATES=$(q "select DATEDIFF('$SIM_TODAY', '$SIM_STARTDATE') + 1")
  [ "$(q 'select count(*) from NotificationPerson')" = 0 ] || { echo "letters exist before the first slice" >&2; return 1; }
}

# JobRun keeps the newest 1000 rows per job: copy the non-Skipped ones as they come. INSERT ...
# SELECT locks the rows it reads, so it can lose a deadlock to a node writing JobRun: try again.
archive_runs() {
  local i
  for i in 1 2 3 4 5; do
    q "insert ignore into zz_runs select * from JobRun where Outcome <> 'Skipped'" 2>/dev/null && return 0
    sleep 0.2
  done
  q "insert ignore into zz_runs select * from JobRun where Outcome <> 'Skipped'" || true
}

# Audit lines of one event key over every service node of the scenario: "<lines> <distinct CPRs>
# <CPRs named more than once>".
audit_counts() {
  local f=$SDIR/audit-$1.txt
  # One JSON object per line: "noegle":"<key>", "information":"cpr=<10 digits> ...".
  (cat "$SDIR"/node*/logs/audit*.log 2>/dev/null || true) | grep -F "\"noegle\":\"$1\"" |
    sed -n 's/.*"information":"cpr=\([0-9]\{10\}\).*/\1/p' | sort >"$f"
  echo "$(wc -l <"$f") $(uniq <"$f" | wc -l) $(uniq -d <"$f" | wc -l)"
}

# The exact end state: removals and closures exactly right (data and audit), every due citizen
# one Completed letter, and the fake received exactly the database's letters, one per citizen.
assert_final() {
  expect_eq "deceased: registrations left of citizens dead > 12 months" \
    "$(q 'select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.dead_long')" 0
  expect_eq "deceased: letters left of citizens dead > 12 months" \
    "$(q 'select count(*) from NotificationPerson n join zz_people p using (Cpr) where p.dead_long')" 0
  expect_eq "nobody else lost a registration" \
    "$(q 'select count(*) from zz_people p where not p.dead_long and p.regs <> (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr)')" 0
  local a
  read -r -a a <<<"$(audit_counts deceased-data-removed)"
  expect_eq "deceased: audit lines 'deceased-data-removed' (lines, citizens, citizens twice)" "${a[*]}" "$E_DEAD $E_DEAD 0"
  expect_eq "emigrated: active registrations left" \
    "$(q 'select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.emigrated and r.ValidTo is null')" 0
  expect_eq "emigrated: registrations closed by the job" \
    "$(q "select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.emigrated and r.ValidTo >= '$T0'")" "$E_EMI_ROWS"
  expect_eq "nobody else had a registration closed" \
    "$(q 'select count(*) from zz_people p where not p.emigrated and not p.dead_long and p.active <> (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr and r.ValidTo is null)')" 0
  read -r -a a <<<"$(audit_counts emigrated-registration-closed)"
  expect_eq "emigrated: audit lines 'emigrated-registration-closed' (lines, citizens, citizens twice)" "${a[*]}" "$E_EMI $E_EMI 0"
  expect_eq "letters in NotificationPerson" "$(q 'select count(*) from NotificationPerson')" "$E_DUE"
  expect_eq "distinct citizens with a letter" "$(q 'select count(distinct Cpr) from NotificationPerson')" "$E_DUE"
  expect_eq "letters to citizens not due" \
    "$(q 'select count(*) from NotificationPerson n left join zz_people p using (Cpr) where p.Cpr is null or not p.due')" 0
  expect_eq "letters not Completed or without SentAtDateTime" \
    "$(q "select count(*) from NotificationPerson where Status <> 'Completed' or SentAtDateTime is null")" 0
  expect_eq "notification dates Completed" \
    "$(q "select count(*) from NotificationDate where Status = 'Completed' and LatestDate between '$SIM_STARTDATE' and '$SIM_TODAY'")" "$E_DATES"
  curl -s --max-time 10 "$SIM_CONTROL/dp/letters.tsv" | sort >"$SDIR/fake-letters.tsv"
  q "select Cpr, MessageId, TemplateDigital, TemplatePhysical from NotificationPerson" | sort >"$SDIR/db-letters.tsv"
  expect_eq "distinct letters received by the fake Digital Post" "$(wc -l <"$SDIR/fake-letters.tsv")" "$E_DUE"
  DUP_LETTERS=$(cut -f1 "$SDIR/fake-letters.tsv" | uniq -d | wc -l)
  expect_eq "citizens with two distinct letters (MessageIds) at the fake" "$DUP_LETTERS" 0
  if diff -q "$SDIR/fake-letters.tsv" "$SDIR/db-letters.tsv" >/dev/null; then
    pass "the fake's letters are the database's letters (CPR, MessageId, templates)"
  else
    fail "the fake's letters differ from NotificationPerson: $(diff "$SDIR/fake-letters.tsv" "$SDIR/db-letters.tsv" | head -5 | cut -c1-20 | tr '\n' ' ')"
  fi
  LOST=$(q "select (select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.dead_long or (p.emigrated and r.ValidTo is null))
                 + (select count(*) from zz_people p where p.due and not exists (select 1 from NotificationPerson n where n.Cpr = p.Cpr and n.Status = 'Completed'))")
  figure "expected $E_DUE letters over $E_DATES dates, $E_DEAD citizens removed, $E_EMI closed; fake DP $(sim GET /dp/stats)"
}

# Non-Skipped slices of one job never overlap: JobRun's StartedAt is taken after the lease was
# taken and EndedAt before it is released, so one lease holder's interval ends before the next
# begins (all nodes share this machine's clock). Any overlap fails. Two rows of the same node
# with the same StartedAt and EndedAt are one slice recorded twice (SPEC §4: one row per slice);
# they are told apart from two slices at once, and both fail.
check_overlaps() {
  local job rows n us slices same
  for job in $DECEASED $EMIGRATED $NOTIFICATION; do
    local pairs="from zz_runs a join zz_runs b on a.JobName = b.JobName and a.JobRunPID <> b.JobRunPID
                 and (a.StartedAt < b.StartedAt or (a.StartedAt = b.StartedAt and a.JobRunPID < b.JobRunPID))
                 and b.StartedAt < a.EndedAt
               where a.JobName = '$job'"
    local twice="a.Node = b.Node and a.StartedAt = b.StartedAt and a.EndedAt = b.EndedAt"
    rows=$(q "select count(*), coalesce(max(TIMESTAMPDIFF(MICROSECOND, b.StartedAt, a.EndedAt)), 0) $pairs and not ($twice)")
    n=${rows%%$'\t'*} us=${rows##*$'\t'}
    same=$(q "select count(*) $pairs and $twice")
    slices=$(q "select count(*) from zz_runs where JobName = '$job'")
    if [ "$n" = 0 ]; then
      pass "$job: $slices slices in JobRun, no two at once"
    else
      fail "$job: $n pairs of overlapping slices among $slices (largest overlap $((us / 1000)) ms):"
      q "select a.JobRunPID, a.Node, a.StartedAt, a.EndedAt, a.Outcome, '|', b.JobRunPID, b.Node, b.StartedAt, b.EndedAt, b.Outcome
         $pairs and not ($twice) limit 5" | sed 's/^/          /'
    fi
    if [ "$same" = 0 ]; then
      pass "$job: no slice recorded twice in JobRun"
    else
      fail "$job: $same slices recorded twice in JobRun (same node, StartedAt and EndedAt; a JobRun insert retried after its prune lost certification?):"
      q "select a.JobRunPID, b.JobRunPID, a.Node, a.StartedAt, a.EndedAt, a.Outcome, a.Processed $pairs and $twice limit 5" | sed 's/^/          /'
    fi
    OVERLAPS=$((${OVERLAPS:-0} + n))
  done
}

# Every status and alarm page of every given node answers 200.
expect_pages_ok() {
  local what=$1 n page
  shift
  for n in "$@"; do
    for page in "${PAGES[@]}"; do
      get "$(node_url "$n")$page"
      [ "$CODE" = 200 ] || fail "$what: node $n $page: HTTP $CODE: $(tr '\n' '|' <<<"$BODY" | head -c 300)"
    done
  done
  pass "$what: the 4 status/alarm pages answer 200 on node(s) $*"
}

# Log lines of the scenario's service nodes matching a fixed string.
count_log() { (cat "$SDIR"/node*/console.log 2>/dev/null || true) | grep -cF -- "$1" || true; }

lease_of() { q "select concat(coalesce(Owner,''), '|', coalesce(Token,0), '|', coalesce(LockedUntil > NOW(6), 0)) from JobLock where JobName = '$1'"; }

# wait_lease JOB TOKEN0 SECONDS: until a node holds JOB with a token above TOKEN0; prints the lease.
wait_lease() {
  local job=$1 token0=$2 i lease
  for i in $(seq 1 $(($3 * 20))); do
    lease=$(lease_of "$job")
    if [ "$(cut -d'|' -f2 <<<"$lease")" -gt "$token0" ] && [ -n "$(cut -d'|' -f1 <<<"$lease")" ]; then
      echo "$lease"
      return 0
    fi
    sleep 0.05
  done
  echo "$lease"
  return 1
}

# ---------------------------------------------------------------- scenario 1: startup

scenario_startup() {
  local migrations round n i t0 go codes ok applied bad
  migrations=$(find "$ROOT/migrations/mysql" -mindepth 1 -maxdepth 1 -type d | wc -l)
  local times=()
  for round in $(seq 1 "$STARTUP_ROUNDS"); do
    DB=$(db_name "startup_$round")
    echo "$DB" >>"$DBFILE"
    gq_server 1 "drop database if exists \`$DB\`; create database \`$DB\` character set utf8mb4"
    # The database must exist on every Galera node before a service node connects to it.
    for n in 2 3; do
      for i in $(seq 1 100); do
        [ -n "$(gq_server "$n" "show databases like '$DB'")" ] && break
        sleep 0.1
      done
    done
    go=$SDIR/go.$round
    SDIR_ROUND=$SDIR/round$round
    local SDIR_SAVED=$SDIR
    SDIR=$SDIR_ROUND
    mkdir -p "$SDIR"
    NODE_PORT=()
    for n in 1 2 3; do launch_node "$n" "$n" "$go"; done
    sleep 0.5
    t0=$(now_ms)
    touch "$go"
    # All three must answer status 200 within 60 s.
    codes=([1]=000 [2]=000 [3]=000)
    local ready_ms=([1]=- [2]=- [3]=-)
    for i in $(seq 1 600); do
      ok=1
      for n in 1 2 3; do
        if [ "${codes[$n]}" != 200 ] && [ "${codes[$n]}" != exited ]; then
          codes[$n]=$(status_code "$n" 1)
          if [ "${codes[$n]}" = 200 ]; then
            ready_ms[$n]=$(($(now_ms) - t0))
          else
            ok=0
            alive "${NODE_PID[$n]}" || codes[$n]=exited
          fi
        fi
      done
      [ $ok = 1 ] && break
      [ $(($(now_ms) - t0)) -lt 60000 ] || break
      sleep 0.1
    done
    for n in 1 2 3; do
      if [ "${codes[$n]}" = 200 ]; then
        pass "round $round: service node $n (Galera node $n) answers status 200 after ${ready_ms[$n]} ms"
      else
        fail "round $round: service node $n (Galera node $n) status ${codes[$n]} within 60 s: $(tail -3 "$(node_dir "$n")/console.log" | tr '\n' '|' | cut -c1-400)"
      fi
      ours "${NODE_PID[$n]}" "$(node_what "$n")" || fail "round $round: service node $n exited"
    done
    times+=("${ready_ms[1]}/${ready_ms[2]}/${ready_ms[3]}")
    for n in 1 2 3; do
      expect_eq "round $round: rows in __diesel_schema_migrations seen from Galera node $n" \
        "$(gq "$n" 'select count(*) from __diesel_schema_migrations')" "$migrations"
      expect_eq "round $round: JobLock rows seen from Galera node $n" "$(gq "$n" 'select count(*) from JobLock')" 3
    done
    expect_eq "round $round: the same tables on the three Galera nodes" \
      "$(for n in 1 2 3; do gq "$n" "select group_concat(table_name order by table_name) from information_schema.tables where table_schema = '$DB'" | md5sum; done | uniq | wc -l)" 1
    expect_eq "round $round: tables that are not InnoDB or lack a primary key" \
      "$(q "select count(*) from information_schema.tables t where t.table_schema = '$DB' and (t.engine <> 'InnoDB' or not exists
            (select 1 from information_schema.table_constraints c where c.table_schema = t.table_schema
             and c.table_name = t.table_name and c.constraint_type = 'PRIMARY KEY'))")" 0
    expect_eq "round $round: MigrationLock free again" "$(q 'select count(*) from MigrationLock where Owner is not null')" 0
    applied=$( (cat "$SDIR"/node*/console.log || true) | grep -c 'applied migrations: ' || true)
    expect_eq "round $round: service nodes that logged 'applied migrations'" "$applied" 1
    bad=$( (cat "$SDIR"/node*/console.log || true) | grep -E 'migration failed|Failed to run|already exists|migration lock|ERROR' | head -3 || true)
    expect_eq "round $round: migration failures or errors logged" "$bad" ""
    for n in 1 2 3; do stop_pid "${NODE_PID[$n]}" "$(node_what "$n")"; done
    gq_server 1 "drop database if exists \`$DB\`"
    SDIR=$SDIR_SAVED
  done
  figure "$STARTUP_ROUNDS rounds of 3 simultaneous starts on 3 Galera nodes; ms to status 200 (node1/node2/node3): ${times[*]}"
  FIG_LOAD="$STARTUP_ROUNDS x 3 simultaneous starts"
  FIG_FAULTS="none (concurrent migrations)"
}

# ---------------------------------------------------------------- scenario 2: storm

cron_loop() { # id end_ms max_ticks dir
  local id=$1 end=$2 max=$3 dir=$4 n=0 k path
  sleep "0.0$((id * 5))"
  while [ $n -lt "$max" ] && [ "$(now_ms)" -lt "$end" ]; do
    k=0
    for path in "${STARTS[@]}"; do
      curl -s --max-time 90 -w '\n@@HTTP %{http_code}\n' "$LB$path" >"$dir/$id.$n.$k" 2>/dev/null &
      k=$((k + 1))
    done
    n=$((n + 1))
    sleep 0.2
  done
  wait
}

# poll_pages DIR END_MS NODE...: the four status/alarm pages of every node, every 0.5 s;
# every answer's code to DIR/codes, every non-200 with its body to DIR/nonok.
poll_pages() {
  local dir=$1 end=$2 n page code i
  shift 2
  for i in $(seq 1 100000); do
    [ "$(now_ms)" -lt "$end" ] && [ ! -e "$dir/stop" ] || break
    for n in "$@"; do
      for page in "${PAGES[@]}"; do
        code=$(curl -s --max-time 10 -o "$dir/last" -w '%{http_code}' "$(node_url "$n")$page" || true)
        echo "$code" >>"$dir/codes"
        if [ "$code" != 200 ]; then
          printf '%s node%s %s HTTP %s: %s\n' "$(date -u +%T.%3N)" "$n" "$page" "$code" "$(tr '\n' '|' <"$dir/last" | head -c 600)" >>"$dir/nonok"
        fi
      done
    done
    sleep 0.5
  done
}

scenario_storm() {
  setup_sim "--recent-dates 3 --per-date 100"
  NODE_EXTRA="deletion.desired.execution.duration.deceased=PT1S
deletion.desired.execution.duration.emigrated=PT1S
digitalpost.notification.odr.send.desired.execution.duration=PT1S
deletion.batchsize.deceased=500
personinformation.batchsize.deceased=100
deletion.batchsize.emigrated=500
personinformation.batchsize.emigrated=250
personinformation.defaultMaxConnectionsPerRoute=2
digitalpost.notification.odr.send.limit=10
digitalpost.default.max.connections.per.route=2"
  local n
  for n in 1 2 3; do start_node "$n" "$n"; done
  start_nginx 1 2 3
  # Slow enough that every job has work for most of the storm (about 7 letters a second).
  sim POST /pi/latency/150 >/dev/null
  sim POST /dp/latency/300 >/dev/null
  snapshot
  local loops=4 dir=$SDIR/storm pdir=$SDIR/pages end i
  mkdir -p "$dir" "$pdir"
  end=$(($(now_ms) + STORM_SECONDS * 1000))
  log "storm: $loops loops x 3 start URLs every 200 ms through nginx over 3 nodes on 3 Galera nodes for $STORM_SECONDS s; polling the 4 pages on every node"
  poll_pages "$pdir" $((end + 120000)) 1 2 3 &
  local ppid=$!
  remember "$ppid" bash
  local lpids=()
  for i in $(seq 1 $loops); do
    cron_loop "$i" "$end" $((STORM_SECONDS * 5 + 5)) "$dir" &
    lpids+=($!)
    remember "$!" bash
  done
  for i in $(seq 1 $((STORM_SECONDS + 5))); do
    [ "$(now_ms)" -lt "$end" ] || break
    archive_runs
    sleep 1
  done
  wait "${lpids[@]}"
  for i in "${lpids[@]}"; do forget "$i"; done
  archive_runs
  touch "$pdir/stop"
  wait "$ppid" || true
  forget "$ppid"
  local total non200 skipped paused finished failed polls nonok
  total=$(find "$dir" -type f | wc -l)
  non200=$( (grep -L '^@@HTTP 200$' -r "$dir" || true) | wc -l)
  skipped=$( (grep -l 'kører allerede på en anden node\.' -r "$dir" || true) | wc -l)
  paused=$( (grep -l ': Paused after ' -r "$dir" || true) | wc -l)
  finished=$( (grep -l ': Finished after ' -r "$dir" || true) | wc -l)
  failed=$( (grep -l ': Failed: ' -r "$dir" || true) | wc -l)
  FAILED_ANSWERS=$((FAILED_ANSWERS + failed))
  expect_eq "storm answers that were not HTTP 200" "$non200" 0
  expect_eq "storm answers 'Failed'" "$failed" 0
  [ "$failed" = 0 ] || (grep -h ': Failed: ' -r "$dir" || true) | sort | uniq -c | sort -rn | head -5 | sed 's/^/          /'
  expect_eq "answers that are none of Paused/Finished/Skipped/Failed" "$((total - skipped - paused - finished - failed))" 0
  expect_eq "Failed rows in JobRun" "$(q "select (select count(*) from zz_runs where Outcome = 'Failed') + (select count(*) from JobRun where Outcome = 'Failed')")" 0
  polls=$(wc -l <"$pdir/codes")
  nonok=$( (grep -vcx 200 "$pdir/codes" || true))
  expect_eq "status/alarm page answers that were not 200 (of $polls polled during the storm)" "$nonok" 0
  [ "$nonok" = 0 ] || head -5 "$pdir/nonok" | sed 's/^/          /'
  local conflicts lost_commits retried unrecorded
  conflicts=$(count_log 'another node took the lease at the same moment')
  lost_commits=$(count_log 'a commit lost to another node')
  retried=$(count_log 'a write lost to another node')
  unrecorded=$(count_log 'could not be recorded in JobRun')
  expect_eq "slices stopped because a commit lost certification" "$lost_commits" 0
  figure "$total start calls through nginx in ${STORM_SECONDS} s: $paused Paused, $finished Finished, $skipped Skipped, $failed Failed; $polls page polls, $nonok not 200"
  figure "Galera: $conflicts lease acquisitions lost certification (1213) and answered Skipped, $retried conflicting writes retried, $unrecorded JobRun rows not recorded"
  local by_node
  by_node=$(q "select group_concat(concat(substring_index(Node, ':', -1), '=', n) separator ' ') from (select Node, count(*) n from zz_runs group by Node) x")
  figure "slices per node pid: $by_node"
  DRAIN_CALLS=0
  drain "$LB" || fail "the jobs did not finish after the storm"
  figure "then $DRAIN_CALLS calls until every job answered Finished"
  archive_runs
  OVERLAPS=0
  check_overlaps
  assert_final
  local leaked
  leaked=$( (cat "$dir"/* | grep -aoE '[0-9]{10}' || true) | sort -u | comm -12 - "$WORK/cprs.txt" | wc -l)
  expect_eq "CPR numbers in the storm's answers" "$leaked" 0
  expect_pages_ok "after the storm" 1 2 3
  FIG_LOAD="4 cron loops x 3 URLs / 200 ms, ${STORM_SECONDS} s, 3 nodes on 3 Galera nodes ($total calls, $skipped Skipped, $conflicts acquire conflicts)"
  FIG_FAULTS="none; $polls page polls, $nonok non-200"
}

# ---------------------------------------------------------------- scenario 3: kill -9 of a Galera node

scenario_kill_db_node() {
  setup_sim "--recent-dates 3 --per-date 40"
  NODE_EXTRA="deletion.desired.execution.duration.deceased=PT8S
deletion.desired.execution.duration.emigrated=PT3S
digitalpost.notification.odr.send.desired.execution.duration=PT8S
deletion.batchsize.deceased=200
personinformation.batchsize.deceased=50
personinformation.defaultMaxConnectionsPerRoute=1
deletion.batchsize.emigrated=1000
digitalpost.notification.odr.send.limit=10
digitalpost.default.max.connections.per.route=2"
  local n victim=2 g=2
  for n in 1 2 3; do start_node "$n" "$n"; done
  start_nginx 1 2 3
  sim POST /pi/latency/300 >/dev/null
  sim POST /dp/latency/400 >/dev/null
  snapshot
  QN=1
  local t0n t0d ln ld i
  t0n=$(cut -d'|' -f2 <<<"$(lease_of $NOTIFICATION)")
  t0d=$(cut -d'|' -f2 <<<"$(lease_of $DECEASED)")
  curl -s --max-time 120 -w '\n@@HTTP %{http_code}\n' "$(node_url $victim)${STARTS[2]}" >"$SDIR/victim-notification" 2>/dev/null &
  local c1=$!
  remember "$c1" curl
  curl -s --max-time 120 -w '\n@@HTTP %{http_code}\n' "$(node_url $victim)${STARTS[0]}" >"$SDIR/victim-deceased" 2>/dev/null &
  local c2=$!
  remember "$c2" curl
  ln=$(wait_lease $NOTIFICATION "$t0n" 15) || true
  ld=$(wait_lease $DECEASED "$t0d" 15) || true
  expect_eq "the notification lease is held by service node $victim" "$(node_of_owner "$(cut -d'|' -f1 <<<"$ln")")" $victim
  expect_eq "the deceased lease is held by service node $victim" "$(node_of_owner "$(cut -d'|' -f1 <<<"$ld")")" $victim
  # Mid-send: a batch of letters InProgress, some of them already at the fake.
  for i in $(seq 1 150); do
    [ "$(q "select count(*) from NotificationPerson where Status = 'InProgress'")" -gt 0 ] && break
    sleep 0.1
  done
  sleep 0.5
  q "select Cpr, MessageId from NotificationPerson where Status = 'InProgress'" | sort >"$SDIR/inprogress-at-kill.tsv"
  local inprog sent_before cursor_before
  inprog=$(wc -l <"$SDIR/inprogress-at-kill.tsv")
  sent_before=$(q "select count(*) from NotificationPerson where Status in ('Sent', 'Completed')")
  cursor_before=$(q "select coalesce(ResumeCursor, '') from JobState where JobName = '$DECEASED'")
  if [ "$inprog" -gt 0 ]; then pass "mid-slice: $inprog letters InProgress on service node $victim"; else fail "no letters InProgress before the kill"; fi
  log "kill-db-node: cluster.sh kill $g (under service node $victim, which runs $NOTIFICATION and $DECEASED)"
  local killed_at=$SECONDS
  bash "$CLUSTER_SH" kill $g | sed 's/^/    /'
  wait "$c1" || true
  wait "$c2" || true
  forget "$c1"
  forget "$c2"
  local ans code
  for f in victim-notification victim-deceased; do
    ans=$(grep -v '^@@HTTP' "$SDIR/$f" || true)
    code=$(sed -n 's/^@@HTTP //p' "$SDIR/$f")
    note_answer "$ans" 1
    expect_eq "$f: the slice's start call answers HTTP 200" "$code" 200
    expect_re "$f: the slice answers Failed with the database reason" "$ans" "$DB_FAILED_RE"
  done
  figure "killed Galera node $g $((SECONDS - killed_at)) s before both slices had answered Failed"
  # While its Galera node is down, the service node says so; the others are fine.
  get "$(node_url $victim)$SLET_STATUS"
  expect_eq "service node $victim status while Galera node $g is down" "$CODE" 500
  expect_has "service node $victim status text" "$BODY" "Database : Unavailable"
  get "$(node_url $victim)$SLET_ALARM"
  expect_eq "service node $victim alarm while Galera node $g is down" "$CODE" 500
  expect_has "service node $victim alarm line" "$BODY" "$DB_LINE"
  get "$(node_url $victim)${STARTS[1]}"
  note_answer "$BODY" 1
  expect_re "service node $victim: a start call meanwhile answers Failed with the database reason" "$BODY" "$DB_FAILED_RE"
  expect_pages_ok "while Galera node $g is down" 1 3
  # The dead slices' leases stand (their node could not release them): the others skip.
  local job lease owner token survivor=1
  for job in $NOTIFICATION $DECEASED; do
    lease=$(lease_of $job)
    expect_eq "$job: the lease is still service node $victim's and unexpired" \
      "$(node_of_owner "$(cut -d'|' -f1 <<<"$lease")")|$(cut -d'|' -f3 <<<"$lease")" "$victim|1"
  done
  get "$(node_url $survivor)${STARTS[2]}"
  note_answer "$BODY" 0
  expect_has "service node $survivor meanwhile: the notification job runs elsewhere" "$BODY" "$NOTIFICATION kører allerede på en anden node."
  # Model the passing of budget + 60 s (as the runbook does, section 6): expire exactly the
  # dead slices' leases (same owner, same token).
  for job in $NOTIFICATION $DECEASED; do
    lease=$(lease_of $job)
    owner=$(cut -d'|' -f1 <<<"$lease")
    token=$(cut -d'|' -f2 <<<"$lease")
    expect_eq "$job: expired the dead slice's lease by SQL (runbook)" \
      "$(q "update JobLock set LockedUntil = NOW(6) - INTERVAL 1 SECOND where JobName = '$job' and Owner = '$owner' and Token = $token; select ROW_COUNT()")" 1
  done
  get "$(node_url 1)${STARTS[2]}"
  note_answer "$BODY" 0
  expect_re "service node 1 (Galera node 1) resumes the notification job" "$BODY" "^$NOTIFICATION: (Paused|Finished) after "
  get "$(node_url 3)${STARTS[0]}"
  note_answer "$BODY" 0
  expect_re "service node 3 (Galera node 3) resumes the deceased job" "$BODY" "^$DECEASED: (Paused|Finished) after "
  local cursor_after
  cursor_after=$(q "select coalesce(ResumeCursor, '') from JobState where JobName = '$DECEASED'")
  if [ -z "$cursor_after" ] || [[ "$cursor_after" > "$cursor_before" ]]; then
    pass "the deceased resume point moved on from where the kill left it"
  else
    fail "the deceased resume point went back (before the kill: ${#cursor_before}-char cursor)"
  fi
  expect_eq "letters InProgress at the kill that are still InProgress" \
    "$(q "select count(*) from NotificationPerson where Status = 'InProgress'")" 0
  # The killed Galera node rejoins; its service node recovers without a restart.
  local out
  out=$(bash "$CLUSTER_SH" restart $g 2>&1) || true
  sed 's/^/    /' <<<"$out"
  expect_has "Galera node $g rejoins by IST" "$out" "(IST)"
  local up_at=$SECONDS rec=000
  for i in $(seq 1 150); do
    rec=$(status_code $victim 2)
    [ "$rec" = 200 ] && break
    sleep 0.2
  done
  expect_eq "service node $victim status back to 200 by itself (same process)" "$rec" 200
  figure "service node $victim recovered $((SECONDS - up_at)) s after the rejoin"
  ours "${NODE_PID[$victim]}" "$(node_what $victim)" || fail "service node $victim is not the process started before the kill"
  get "$(node_url $victim)${STARTS[1]}"
  note_answer "$BODY" 0
  expect_re "service node $victim runs a slice again" "$BODY" "^$EMIGRATED: (Paused|Finished) after "
  # The rest of the work at full speed (the latencies only made the slices long).
  sim POST /pi/latency/0 >/dev/null
  sim POST /dp/latency/0 >/dev/null
  DRAIN_CALLS=0
  drain "$LB" || fail "the jobs did not finish after the kill"
  archive_runs
  OVERLAPS=0
  check_overlaps
  assert_final
  # The letters that were in flight at the kill kept their MessageId.
  local kept
  kept=$(comm -12 "$SDIR/inprogress-at-kill.tsv" <(cut -f1,2 "$SDIR/db-letters.tsv" | sort) | wc -l)
  expect_eq "letters InProgress at the kill, Completed with the same MessageId" "$kept" "$inprog"
  expect_pages_ok "after the recovery" 1 2 3
  expect_eq "unexpected Failed answers (any node other than the one on the killed Galera node)" "$FAILED_ANSWERS" 0
  DUPS=$(dp_stat duplicatesDropped)
  figure "$inprog letters InProgress at the kill ($sent_before sent before), $DUPS resends dropped as duplicates by the fake; drained in $DRAIN_CALLS calls"
  FIG_LOAD="2 long slices on node $victim, then drain through nginx over 3 nodes"
  FIG_FAULTS="kill -9 Galera node $g mid-send; lease expired by SQL; IST rejoin"
}

# ---------------------------------------------------------------- scenario 4: InProgress letters resent

galera_state() { gq_server "$1" "show status like '$2'" 2>/dev/null | cut -f2 || true; }

# resend_round MODE (restart | cutoff): a service node sends a batch (3 s per letter at the
# fake) when its Galera node goes away: `restart` stops it cleanly (cluster.sh stop) and starts
# it again; `cutoff` isolates it from the other two (gmcast.isolate=1: it loses quorum and
# turns non-Primary while its clients stay connected) and lets it back (gmcast.isolate=0).
# Either way it rejoins by IST; the letters left InProgress are resent with their MessageId.
resend_round() {
  local mode=$1 victim=3 g=3 n i
  local SDIR=$SDIR/$mode
  mkdir -p "$SDIR"
  SIM_SUFFIX=_$mode setup_sim "--recent-dates 3 --per-date 20"
  NODE_EXTRA="digitalpost.notification.odr.send.desired.execution.duration=PT6S
digitalpost.notification.odr.send.limit=10
digitalpost.default.max.connections.per.route=10
deletion.desired.execution.duration.deceased=PT2S
deletion.desired.execution.duration.emigrated=PT2S"
  NODE_PORT=()
  for n in 1 2 3; do start_node "$n" "$n"; done
  start_nginx 1 2 3
  sim POST /dp/latency/3000 >/dev/null
  snapshot
  QN=1
  local t0 lease req0 dup0
  t0=$(cut -d'|' -f2 <<<"$(lease_of $NOTIFICATION)")
  req0=$(dp_stat requests)
  curl -s --max-time 120 -w '\n@@HTTP %{http_code}\n' "$(node_url $victim)${STARTS[2]}" >"$SDIR/victim-notification" 2>/dev/null &
  local c1=$!
  remember "$c1" curl
  lease=$(wait_lease $NOTIFICATION "$t0" 15) || true
  expect_eq "$mode: the notification lease is held by service node $victim" "$(node_of_owner "$(cut -d'|' -f1 <<<"$lease")")" $victim
  # Letters in flight: InProgress in the database and requests at the fake (3 s each).
  for i in $(seq 1 150); do
    [ "$(q "select count(*) from NotificationPerson where Status = 'InProgress'")" -gt 0 ] &&
      [ "$(dp_stat requests)" -gt "$req0" ] && break
    sleep 0.1
  done
  q "select Cpr, MessageId from NotificationPerson where Status = 'InProgress'" | sort >"$SDIR/inprogress-at-fault.tsv"
  local inprog
  inprog=$(wc -l <"$SDIR/inprogress-at-fault.tsv")
  if [ "$inprog" -gt 0 ]; then pass "$mode: mid-send: $inprog letters InProgress, $(($(dp_stat requests) - req0)) requests at the fake"; else fail "$mode: no letters InProgress before the fault"; fi
  local out logsize fault_at=$SECONDS
  logsize=$(stat -c %s "${GALERA_DIR:-/var/tmp/odr-galera}/node$g/error.log" 2>/dev/null || echo 0)
  if [ "$mode" = restart ]; then
    log "inprogress-resend: cluster.sh stop $g (under service node $victim, $inprog letters in flight)"
    out=$(bash "$CLUSTER_SH" stop $g 2>&1) || true
    sed 's/^/    /' <<<"$out"
  else
    log "inprogress-resend: Galera node $g cut off from the cluster (gmcast.isolate=1) under service node $victim, $inprog letters in flight"
    gq_server $g "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'"
  fi
  wait "$c1" || true
  forget "$c1"
  local ans code
  ans=$(grep -v '^@@HTTP' "$SDIR/victim-notification" || true)
  code=$(sed -n 's/^@@HTTP //p' "$SDIR/victim-notification")
  note_answer "$ans" 1
  expect_eq "$mode: the sending slice's start call answers HTTP 200" "$code" 200
  expect_re "$mode: the sending slice answers Failed with the database reason" "$ans" "$DB_FAILED_RE"
  figure "$mode: the sending slice answered $((SECONDS - fault_at)) s after the fault"
  if [ "$mode" = cutoff ]; then
    for i in $(seq 1 150); do
      [ "$(galera_state $g wsrep_cluster_status)" = non-Primary ] && break
      sleep 0.2
    done
    expect_eq "$mode: Galera node $g lost quorum" "$(galera_state $g wsrep_cluster_status)" non-Primary
  fi
  # The adapter accepted the letters in flight; the database still says InProgress. The slice
  # had also claimed its next batch while sending (InProgress, never sent): those go out once,
  # as new letters; the ones the adapter had are resent with their MessageId and dropped.
  local left at_fake
  q "select Cpr, MessageId from NotificationPerson where Status = 'InProgress'" | sort >"$SDIR/inprogress-left.tsv"
  left=$(wc -l <"$SDIR/inprogress-left.tsv")
  curl -s --max-time 10 "$SIM_CONTROL/dp/letters.tsv" | cut -f1,2 | sort >"$SDIR/fake-at-fault.tsv"
  at_fake=$(comm -12 "$SDIR/inprogress-left.tsv" "$SDIR/fake-at-fault.tsv" | wc -l)
  if [ "$at_fake" -gt 0 ] && [ "$at_fake" -le "$left" ]; then
    pass "$mode: $left letters left InProgress in the database, $at_fake of them already accepted by the fake (the rest claimed, not yet sent)"
  else
    fail "$mode: letters left InProgress: $left, of them at the fake: $at_fake (expected some, and no more than left)"
  fi
  # Cut off, the service node's connections still stand but its Galera node serves no data.
  get "$(node_url $victim)$SLET_STATUS"
  expect_eq "$mode: service node $victim status while its Galera node is away" "$CODE" 500
  get "$(node_url $victim)$NOTI_ALARM"
  expect_eq "$mode: service node $victim notification alarm while its Galera node is away" "$CODE" 500
  expect_has "$mode: service node $victim alarm line" "$BODY" "$DB_LINE"
  get "$(node_url $victim)${STARTS[1]}"
  note_answer "$BODY" 1
  expect_re "$mode: service node $victim: a start call meanwhile answers Failed with the database reason" "$BODY" "$DB_FAILED_RE"
  expect_pages_ok "$mode: while Galera node $g is away" 1 2
  if [ "$mode" = restart ]; then
    out=$(bash "$CLUSTER_SH" restart $g 2>&1) || true
    sed 's/^/    /' <<<"$out"
  else
    gq_server $g "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'"
    for i in $(seq 1 300); do
      bash "$CLUSTER_SH" status >/dev/null 2>&1 && break
      sleep 0.2
    done
    out=$(bash "$CLUSTER_SH" status 2>&1) || true
    sed 's/^/    /' <<<"$out"
    # How it caught up: the new part of its error log.
    if tail -c +"$((logsize + 1))" "${GALERA_DIR:-/var/tmp/odr-galera}/node$g/error.log" 2>/dev/null | grep -q 'IST received'; then
      out+=" (IST)"
    fi
  fi
  expect_has "$mode: Galera node $g rejoins by IST" "$out" "(IST)"
  local rec=000 up_at=$SECONDS
  for i in $(seq 1 150); do
    rec=$(status_code $victim 2)
    [ "$rec" = 200 ] && break
    sleep 0.2
  done
  expect_eq "$mode: service node $victim status back to 200 by itself (same process)" "$rec" 200
  ours "${NODE_PID[$victim]}" "$(node_what $victim)" || fail "$mode: service node $victim is not the process started before the fault"
  # The failed slice could not release its lease while its database was away; the node retries
  # the release in the background (every 2 s), so the lease needs no expiry by hand.
  local freed=0
  for i in $(seq 1 100); do
    lease=$(lease_of $NOTIFICATION)
    [ "$(cut -d'|' -f3 <<<"$lease")" = 0 ] && { freed=1; break; }
    sleep 0.2
  done
  if [ $freed = 1 ]; then
    pass "$mode: service node $victim released its lease by itself $((SECONDS - up_at)) s after the rejoin"
  else
    fail "$mode: the dead slice's lease is still held 20 s after the rejoin ($lease); expiring it by SQL to go on"
    q "update JobLock set LockedUntil = NOW(6) - INTERVAL 1 SECOND where JobName = '$NOTIFICATION'"
  fi
  sim POST /dp/latency/50 >/dev/null
  dup0=$(dp_stat duplicatesDropped)
  get "$(node_url $victim)${STARTS[2]}"
  note_answer "$BODY" 0
  expect_re "$mode: service node $victim, after the recovery, sends again" "$BODY" "^$NOTIFICATION: (Paused|Finished) after "
  local dups
  dups=$(($(dp_stat duplicatesDropped) - dup0))
  expect_eq "$mode: resent letters dropped as duplicates by the fake (= the InProgress letters it had)" "$dups" "$at_fake"
  expect_eq "$mode: letters left InProgress after the resend" "$(q "select count(*) from NotificationPerson where Status = 'InProgress'")" 0
  DRAIN_CALLS=0
  drain "$LB" || fail "$mode: the jobs did not finish after the recovery"
  archive_runs
  OVERLAPS=0
  check_overlaps
  assert_final
  local kept
  kept=$(comm -12 "$SDIR/inprogress-left.tsv" <(cut -f1,2 "$SDIR/db-letters.tsv" | sort) | wc -l)
  expect_eq "$mode: letters left InProgress, Completed with their MessageId" "$kept" "$left"
  expect_pages_ok "$mode: after the recovery" 1 2 3
  figure "$mode: $inprog letters InProgress at the fault, $left left InProgress, $dups resent and dropped as duplicates; drained in $DRAIN_CALLS calls"
  RESENT_DUPS=$((${RESENT_DUPS:-0} + dups))
  LOST_SUM=$((${LOST_SUM:-0} + LOST))
  DUP_SUM=$((${DUP_SUM:-0} + DUP_LETTERS))
  stop_recorded "$SCEN"
}

scenario_inprogress_resend() {
  resend_round restart
  resend_round cutoff
  expect_eq "unexpected Failed answers" "$FAILED_ANSWERS" 0
  LOST=$LOST_SUM
  DUP_LETTERS=$DUP_SUM
  FIG_LOAD="1 sending slice on node 3 per round (10 letters in flight, 3 s each), then drain through nginx over 3 nodes"
  FIG_FAULTS="Galera node 3 restarted mid-send, then cut off (gmcast.isolate) mid-send; IST rejoins; $RESENT_DUPS resends dropped as duplicates"
}

# ---------------------------------------------------------------- scenario 5: write conflicts

# Writes that two nodes make at the same moment and that may lose certification (1213) are
# retried a few times (SPEC §5), and a retry must not repeat what already committed.
# ErrorEvent: two nodes record a PersonInformation failure at once (cron fires on every node;
# PersonInformation is down for all of them). Each records an ErrorEvent and prunes the events
# older than 30 days; when both prune the same old rows one loses certification. The slice's
# reason must stay the PersonInformation error, never a database deadlock.
# JobRun: three nodes record runs of the same job at once (two calls each: one slice, five Skipped) while the
# job's history is over its 1000 rows, so each prunes the same oldest rows. Every call must be
# recorded exactly once (SPEC §4: one row per slice), also when a prune lost and is retried.
scenario_write_conflicts() {
  setup_sim "--recent-dates 3 --per-date 5"
  NODE_EXTRA="deletion.desired.execution.duration.emigrated=PT0.2S
deletion.batchsize.emigrated=200"
  local n r rounds=${GALERA_CONFLICT_ROUNDS:-25} pa pb deadlocks=0 pi=0 answers=0 f
  for n in 1 2 3; do start_node "$n" "$n"; done
  sim POST /pi/fault/500 >/dev/null
  local events0
  events0=$(q "select count(*) from ErrorEvent")
  for r in $(seq 1 "$rounds"); do
    # Events that turned 30 days old since the last failure: the next failures prune them.
    q "insert into ErrorEvent (Service, OccurredAt, Message)
         select 'PersonInformation', NOW(6) - INTERVAL 40 DAY, 'old' from v2_person_simplified limit 10000"
    { curl -s --max-time 60 "$(node_url 1)${STARTS[0]}" >"$SDIR/deceased.$r" 2>/dev/null; echo $? >"$SDIR/deceased.$r.rc"; } &
    pa=$!
    { curl -s --max-time 60 "$(node_url 2)${STARTS[1]}" >"$SDIR/emigrated.$r" 2>/dev/null; echo $? >"$SDIR/emigrated.$r.rc"; } &
    pb=$!
    wait "$pa" "$pb" || true
    for f in "$SDIR/deceased.$r" "$SDIR/emigrated.$r"; do
      answers=$((answers + 1))
      note_answer "$(cat "$f")" 1
      if grep -q ': Failed: Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen returnerede en uventet statuskode: 500;' "$f"; then
        pi=$((pi + 1))
      elif grep -q 'Deadlock found' "$f"; then
        deadlocks=$((deadlocks + 1))
        [ "$deadlocks" -gt 3 ] || printf '          round %s: %s\n' "$r" "$(head -c 200 "$f")"
      else
        fail "ErrorEvent round $r: unexpected answer (curl exit $(cat "$f.rc")): $(head -c 300 "$f")"
      fi
    done
  done
  sim POST /pi/fault/none >/dev/null
  expect_eq "ErrorEvent: failed slices that name a database deadlock instead of PersonInformation (of $answers)" "$deadlocks" 0
  expect_eq "ErrorEvent: failed slices that name the PersonInformation error" "$pi" "$answers"
  expect_eq "ErrorEvent: JobRun rows whose reason is a deadlock" "$(q "select count(*) from JobRun where ErrorMessage like '%Deadlock%'")" 0
  expect_eq "ErrorEvent: events recorded by the failed slices" \
    "$(($(q "select count(*) from ErrorEvent where Message <> 'old'") - events0))" "$answers"
  expect_eq "ErrorEvent: events older than 30 days left" "$(q "select count(*) from ErrorEvent where OccurredAt < NOW(6) - INTERVAL 30 DAY")" 0
  figure "ErrorEvent: $rounds rounds of 2 simultaneous PersonInformation failures on Galera nodes 1 and 2 with 10000 old events to prune: $pi answers name PersonInformation, $deadlocks a deadlock"
  # JobRun: before each round, 300 filler rows over the job's 1000, so every recording prunes
  # the same 300 oldest rows; then 3 calls at once. Each round's rows are copied aside before
  # the next round's prunes can remove them.
  local ids0 calls=0 retried0 skipped=0 ran=0 other=0
  q "create table zz_calls like JobRun"
  q "insert into JobRun (JobName, Node, StartedAt, EndedAt, Outcome, Processed)
       select '$EMIGRATED', 'old:0', NOW(6) - INTERVAL 2 DAY, NOW(6) - INTERVAL 2 DAY, 'Skipped', 0
       from v2_person_simplified limit 1000"
  ids0=$(q "select coalesce(max(JobRunPID), 0) from JobRun")
  retried0=$(count_log 'a write lost to another node')
  for r in $(seq 1 "$rounds"); do
    q "insert into JobRun (JobName, Node, StartedAt, EndedAt, Outcome, Processed)
         select '$EMIGRATED', 'old:0', NOW(6) - INTERVAL 2 DAY, NOW(6) - INTERVAL 2 DAY, 'Skipped', 0
         from v2_person_simplified limit 300"
    local cpids=()
    for n in 1 2 3 1 2 3; do
      f=$(mktemp "$SDIR/run.$r.XXXX")
      { curl -s --max-time 60 -o "$f" -w '%{time_total} s' "$(node_url $n)${STARTS[1]}" >"$f.took" 2>/dev/null; echo $? >"$f.rc"; } &
      cpids+=($!)
    done
    wait "${cpids[@]}" || true
    for f in "$SDIR"/run."$r".????; do
      calls=$((calls + 1))
      note_answer "$(cat "$f")" 0
      if grep -q 'kører allerede på en anden node\.' "$f"; then skipped=$((skipped + 1))
      elif grep -qE ': (Paused|Finished) after ' "$f"; then ran=$((ran + 1))
      else
        other=$((other + 1))
        [ "$other" -gt 3 ] || printf '          round %s: unexpected answer (curl exit %s, after %s): %s\n' "$r" "$(cat "$f.rc")" "$(cat "$f.took" 2>/dev/null)" "$(head -c 300 "$f")"
      fi
    done
    q "insert ignore into zz_calls select * from JobRun where JobName = '$EMIGRATED' and Node <> 'old:0' and JobRunPID > $ids0"
  done
  expect_eq "JobRun: answers other than a slice or Skipped (of $calls)" "$other" 0
  expect_eq "JobRun: rows recorded for the $calls calls (one per call)" "$(q "select count(*) from zz_calls")" "$calls"
  expect_eq "JobRun: calls recorded twice (same node, StartedAt, EndedAt, Outcome)" \
    "$(q "select count(*) - count(distinct Node, StartedAt, EndedAt, Outcome) from zz_calls")" 0
  expect_eq "JobRun: the job's history is pruned to 1000 rows" "$(q "select count(*) from JobRun where JobName = '$EMIGRATED'")" 1000
  figure "JobRun: $rounds rounds of 6 simultaneous calls (2 per node) of $EMIGRATED, each pruning 300 old rows: $ran slices, $skipped Skipped, $(($(count_log 'a write lost to another node') - retried0)) JobRun writes retried after a conflict, $(count_log 'could not be recorded in JobRun') runs not recorded"
  LOST=0
  FIG_LOAD="$rounds x 2 simultaneous failing slices, then $rounds x 6 simultaneous calls of one job, on 3 Galera nodes"
  FIG_FAULTS="PersonInformation 500; concurrent ErrorEvent and JobRun prunes"
}

# ---------------------------------------------------------------- runner

# What a failed scenario leaves to read once CI has thrown the machine away: the service nodes'
# last errors and warnings, and the Galera nodes' last warnings.
forensics() {
  local f
  for f in "$1"/node*/console.log; do
    [ -e "$f" ] || continue
    echo "    last errors and warnings of ${f#"$WORK"/}:"
    (grep -E ' (ERROR|WARN) ' "$f" || true) | tail -n 15 | cut -c1-300 | sed 's/^/      /'
  done
  for f in "${GALERA_DIR:-/var/tmp/odr-galera}"/node*/error.log; do
    [ -e "$f" ] || continue
    echo "    last warnings of Galera ${f#"${GALERA_DIR:-/var/tmp/odr-galera}"/}:"
    (grep -E '\[(ERROR|Warning)\]' "$f" || true) | tail -n 10 | cut -c1-300 | sed 's/^/      /'
  done
}

PASSED=0
FAILED=0
SUMMARY=()
TABLE=()
run_scenario() {
  local name=$1 fn=scenario_${1//-/_} t0=$SECONDS rc
  log "== scenario $name"
  set +e
  (
    set -euo pipefail
    SCEN=$name
    SDIR=$WORK/$name
    mkdir -p "$SDIR"
    trap 'stop_recorded "$SCEN"' EXIT
    FIG_LOAD="-" FIG_FAULTS="-" LOST="-" DUP_LETTERS="-"
    "$fn"
    echo "$FIGURES" >"$WORK/$name.figures"
    printf '%s | %s | %s | %s | %s | %s\n' "$name" "$FIG_LOAD" "$FIG_FAULTS" \
      "$FAILED_ANSWERS unexpected, $EXPECTED_FAILED expected" \
      "$LOST" "$DUP_LETTERS" >"$WORK/$name.row"
    [ "$SC_FAILS" -eq 0 ]
  )
  rc=$?
  set -e
  local figures
  figures=$(cat "$WORK/$name.figures" 2>/dev/null || echo "aborted (see above)")
  if [ $rc -eq 0 ]; then
    PASSED=$((PASSED + 1))
    SUMMARY+=("PASS $name ($((SECONDS - t0)) s): $figures")
  else
    FAILED=$((FAILED + 1))
    SUMMARY+=("FAIL $name ($((SECONDS - t0)) s): $figures")
    forensics "$WORK/$name"
  fi
  TABLE+=("$(cat "$WORK/$name.row" 2>/dev/null || echo "$name | aborted | | | |")")
  printf '%s\n' "${SUMMARY[-1]}"
  cluster_heal || true
}

main() {
  local scenarios=("$@") s
  [ ${#scenarios[@]} -gt 0 ] || scenarios=(startup storm kill-db-node inprogress-resend write-conflicts)
  for s in "${scenarios[@]}"; do
    declare -F "scenario_${s//-/_}" >/dev/null || { echo "unknown scenario $s (startup storm kill-db-node inprogress-resend write-conflicts)" >&2; exit 2; }
  done
  ((EUID == 0)) || { echo "run as root (cluster.sh needs it)" >&2; exit 2; }
  ensure_tools
  build
  cluster_up
  log "seed $SEED; Galera SQL ports ${G_PORT[*]}; work dir $WORK"
  for s in "${scenarios[@]}"; do run_scenario "$s"; done
  echo
  printf '%s\n' "${SUMMARY[@]}"
  echo
  echo "scenario | load held | faults | Failed answers | lost | duplicate letters"
  printf '%s\n' "${TABLE[@]}"
  echo "suite time $((SECONDS - SUITE_START)) s"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

main "$@"; exit $?
