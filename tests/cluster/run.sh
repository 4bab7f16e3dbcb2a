#!/usr/bin/env bash
# Reliability suite of odr-operations (issue 9) on REAL components: nginx round-robin over two
# `odr-operations serve` processes on one MariaDB database, the `mariadb` client, and curl as
# cron uses it. The fake PersonInformation and Digital Post run standalone
# (`odr-operations simulate`) and are scripted through their control API.
#
# Scenarios (each a function printing PASS/FAIL with its figures):
#   storm     cron storm through nginx: all work done exactly once, no two slices of a job at once
#   kill      kill -9 of the node running a slice, at seeded random points, many times
#   dbrestart MariaDB shut down mid-slice and started again
#   faults    PersonInformation 409/500/timeout/garbage, Digital Post soap:Client and soap:Server
#             Faults, 503, hang
#   hostile   odd methods, huge headers, bad tokens, query strings, unknown Status values,
#             and no CPR number or stack trace in any answer or application log of the suite
#
# Usage: bash tests/cluster/run.sh [scenario ...]      (default: all, in the order above)
# Env:   CLUSTER_SEED (fixed seed, default 20260409), CLUSTER_STORM_SECONDS (60),
#        CLUSTER_KILLS (10), CLUSTER_KEEP=1 (keep the databases and the work dir),
#        CLUSTER_BIN (run this binary instead of building target/release/odr-operations),
#        CLUSTER_CITIZENS (20000: size of the seeded population).
# Ends with the line `N passed, M failed`; exit code 0 only when nothing failed.
# Loopback only; every loop is bounded in count and time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/suite.sh
. "$ROOT/tests/suite.sh"
SEED=${CLUSTER_SEED:-20260409}
STORM_SECONDS=${CLUSTER_STORM_SECONDS:-60}
KILLS=${CLUSTER_KILLS:-10}
CITIZENS=${CLUSTER_CITIZENS:-20000}
MYSQL_SERVER=mysql://root@127.0.0.1:3306
BIN=${CLUSTER_BIN:-$ROOT/target/release/odr-operations}
WORK=$(mktemp -d /tmp/odr-cluster.XXXXXX)
PIDFILE=$WORK/pids            # "pid<TAB>what" of every process this suite started
ANSWERS=$WORK/answers         # every HTTP answer body of the service, scanned at the end
STOPPED_MARK=$WORK/mariadb-stopped-by-suite
mkdir -p "$ANSWERS"
: >"$PIDFILE"
SUITE_START=$SECONDS
RANDOM=$SEED

STARTS=(
  /odr-operations/odr-slettejob/deceased/start
  /odr-operations/odr-slettejob/emigrated/start
  /odr-operations/odr-send-digitalpost-notifikation/start
)
declare -A JOB_OF=(
  [/odr-operations/odr-slettejob/deceased/start]=OrganDonorDeceasedCleanup
  [/odr-operations/odr-slettejob/emigrated/start]=OrganDonorEmigratedCleanup
  [/odr-operations/odr-send-digitalpost-notifikation/start]=OrganDonorNotification
)
SLET_STATUS=/odr-operations/odr-slettejob/status
SLET_ALARM=/odr-operations/odr-slettejob/alarm
NOTI_STATUS=/odr-operations/odr-send-digitalpost-notifikation/status
NOTI_ALARM=/odr-operations/odr-send-digitalpost-notifikation/alarm
DB_LINE='Der er ingen forbindelse til databasen med JNDI navnet java:jboss/datasources/ODR-DS'
FAILED_LINE='Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: '
PI_TOLERANCE_LINE='Person Information servicen har fejlet flere gange end tilladt i en given periode.'
DP_TOLERANCE_LINE='Digital Post Adapter servicen har fejlet flere gange end tilladt i en given periode.'
PI_PREFIX='Data for CPR-nummeret kunne ikke findes, fordi '
DP_PREFIX='Kaldet til Digital Post Adapter-servicen fejlede: '

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# ---------------------------------------------------------------- processes and clean-up

# Records a started process; only recorded processes are ever signalled, and only while their
# command line still matches what was started (a pid is never reused by accident).
remember() { printf '%s\t%s\n' "$1" "$2" >>"$PIDFILE"; }
forget() { sed -i "/^$1\t/d" "$PIDFILE"; }
signal_recorded() { # signal, optional filter on "what"
  local sig=$1 filter=${2:-} pid what
  [ -f "$PIDFILE" ] || return 0
  while IFS=$'\t' read -r pid what; do
    [ -n "$pid" ] || continue
    if [ -z "$filter" ] || [ "$what" = "$filter" ]; then
      if ours "$pid" "$what"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
    fi
  done < <(tac "$PIDFILE")
}
stop_recorded() {
  signal_recorded TERM "${1:-}"
  local i
  for i in $(seq 1 30); do
    local left=0 pid what
    while IFS=$'\t' read -r pid what; do
      if [ -z "${1:-}" ] || [ "$what" = "$1" ]; then ours "$pid" "$what" && left=1; fi
    done <"$PIDFILE"
    [ $left -eq 0 ] && return 0
    sleep 0.1
  done
  signal_recorded KILL "${1:-}"
}

mariadb_ok() { mariadb -uroot -h127.0.0.1 -N -e 'select 1' >/dev/null 2>&1; }
start_mariadb() {
  # This machine starts MariaDB without systemd; try the init script, then the daemon directly.
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  local i
  if ! mariadb_ok; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null 2>&1 || true
    for i in $(seq 1 120); do mariadb_ok && return 0; sleep 0.25; done
    service mariadb start >/dev/null 2>&1 || true
    for i in $(seq 1 120); do mariadb_ok && return 0; sleep 0.25; done
    return 1
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_recorded
  if [ -e "$STOPPED_MARK" ] || ! mariadb_ok; then
    if [ -e "$STOPPED_MARK" ]; then log "restoring MariaDB (the suite stopped it)"; fi
    start_mariadb || log "MariaDB does not answer; start it by hand"
    rm -f "$STOPPED_MARK"
  fi
  if [ "${CLUSTER_KEEP:-0}" != 1 ]; then
    local db
    for db in $(mariadb -uroot -h127.0.0.1 -N -e "show databases like 'odr\\_cluster\\_%'" 2>/dev/null); do
      mariadb -uroot -h127.0.0.1 -e "drop database if exists \`$db\`" 2>/dev/null || true
    done
    rm -rf "$WORK"
  else
    log "kept $WORK and the odr_cluster_* databases"
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
  command -v mariadb-admin >/dev/null 2>&1 || missing+=(mariadb-client)
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
  mariadb_ok || start_mariadb || { log "MariaDB does not answer on 127.0.0.1:3306"; exit 1; }
}

build() {
  if [ -n "${CLUSTER_BIN:-}" ]; then log "using CLUSTER_BIN=$BIN"; return 0; fi
  # Cargo rebuilds only what changed (seconds when target/release is fresh, ~4 min from scratch).
  log "cargo build --release --features mariadb"
  (cd "$ROOT" && cargo build --release --features mariadb --quiet)
}


# ---------------------------------------------------------------- nginx

start_nginx() {
  NGINX_PORT=$(free_port)
  local d=$WORK/nginx
  mkdir -p "$d/tmp" "$d/logs"
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
    # round-robin (nginx's default) over the two nodes; max_fails=0: a node is never taken out
    # of the rotation (a refused connection just moves the request to the other node), so a node
    # restarted after kill -9 gets calls again at once
    server 127.0.0.1:${NODE_PORT[1]} max_fails=0;
    server 127.0.0.1:${NODE_PORT[2]} max_fails=0;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
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
  local pid=$!
  remember "$pid" nginx
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null && { LB=http://127.0.0.1:$NGINX_PORT; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$d/logs/error.log" >&2 || true
  return 1
}

# ---------------------------------------------------------------- simulator and nodes

# setup_cluster NAME "simulate args" "node properties": fresh database odr_cluster_NAME with the
# population, the fakes, and both nodes ready.
setup_cluster() {
  SCEN=$1
  DB=odr_cluster_$1
  SDIR=$WORK/$1
  NODE_EXTRA=$3
  mkdir -p "$SDIR"
  local sim_args=$2
  # shellcheck disable=SC2086
  (cd "$SDIR" && exec "$BIN" simulate --citizens "$CITIZENS" --seed "$SEED" --seed-db "$MYSQL_SERVER/$DB" \
    --ready-file "$SDIR/sim.ready" $sim_args >"$SDIR/sim.log" 2>&1) &
  SIM_PID=$!
  remember "$SIM_PID" "odr-operations simulate"
  local i
  for i in $(seq 1 1200); do
    [ -f "$SDIR/sim.ready" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || { tail -20 "$SDIR/sim.log" >&2; return 1; }
    sleep 0.1
  done
  [ -f "$SDIR/sim.ready" ] || { echo "simulate not ready after 120 s" >&2; return 1; }
  # shellcheck disable=SC1091
  . "$SDIR/sim.ready"
  if [ ! -s "$WORK/cprs.txt" ]; then
    q "select Cpr from v2_person_simplified" | sort -u >"$WORK/cprs.txt"
  fi
  start_node 1
  start_node 2
}


node_props() {
  cat <<EOF
server.bind=127.0.0.1:${NODE_PORT[$1]}
datasource.odr.url=$MYSQL_SERVER/$DB
datasource.odr.pool.size=10
personinformation.url=$SIM_PI_URL
digitalpost.service.url=$SIM_DP_URL
digitalpost.notification.odr.startdate=$SIM_STARTDATE
personinformation.defaultConnectionTimeoutMs=1500
digitalpost.default.connection.timeout.ms=1500
logging.config=$ROOT/log4rs.yaml
$NODE_EXTRA
EOF
}

start_node() {
  local n=$1 dir=$SDIR/node$1
  mkdir -p "$dir"
  node_props "$n" >"$dir/operations.properties"
  (cd "$dir" && exec "$BIN" --config "$dir/operations.properties" serve >>"$dir/console.log" 2>&1) &
  NODE_PID[$n]=$!
  remember "${NODE_PID[$n]}" "odr-operations --config $dir/operations.properties serve"
  wait_ready "$n"
}

wait_ready() {
  local n=$1 i code
  for i in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:${NODE_PORT[$n]}$SLET_STATUS" || true)
    [ "$code" = 200 ] && return 0
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || { tail -20 "$SDIR/node$n/console.log" >&2; return 1; }
    sleep 0.1
  done
  echo "node $n not ready after 30 s" >&2
  return 1
}

node_url() { echo "http://127.0.0.1:${NODE_PORT[$1]}"; }

# ---------------------------------------------------------------- HTTP and SQL helpers

# Sessions in UTC, like the service's: NOW(6) compares with JobLock.LockedUntil as stored.
q() { mariadb -uroot -h127.0.0.1 -N -B --init-command="SET time_zone = '+00:00'" "$DB" -e "$1"; }

# http METHOD URL [curl args...]: sets CODE and BODY; the body is kept for the final scan.
http() {
  local method=$1 url=$2
  shift 2
  local f
  f=$(mktemp "$ANSWERS/${SCEN:-x}.XXXXXX")
  if [ "$method" = HEAD ]; then
    CODE=$(curl -s --max-time 120 -I -o "$f" -w '%{http_code}' "$@" "$url" || true)
  else
    CODE=$(curl -s --max-time 120 -X "$method" -o "$f" -w '%{http_code}' "$@" "$url" || true)
  fi
  BODY=$(cat "$f")
}

SC_FAILS=0
FIGURES=""
figure() { FIGURES="${FIGURES:+$FIGURES; }$*"; }
pass() { printf '    ok    %s\n' "$*"; }
fail() { printf '    FAIL  %s\n' "$*"; SC_FAILS=$((SC_FAILS + 1)); }
expect_has() { if grep -qF -- "$3" <<<"$2"; then pass "$1"; else fail "$1: [$(head -c 400 <<<"$2")] lacks [$3]"; fi; }
expect_lacks() { if grep -qF -- "$3" <<<"$2"; then fail "$1: [$(head -c 400 <<<"$2")] contains [$3]"; else pass "$1"; fi; }

# Calls each start URL until its job answers Finished (bounded); DRAIN_CALLS counts the calls.
DRAIN_CALLS=0
drain() {
  local base=$1 path n line hdr=()
  [ -n "${TOKEN_HDR:-}" ] && hdr=(-H "$TOKEN_HDR")
  for path in "${STARTS[@]}"; do
    for n in $(seq 1 150); do
      get "$base$path" "${hdr[@]}"
      DRAIN_CALLS=$((DRAIN_CALLS + 1))
      line=$BODY
      [ "$CODE" = 200 ] || { echo "drain $path: HTTP $CODE: $line" >&2; return 1; }
      if grep -q ': Finished after ' <<<"$line"; then break; fi
      if grep -q 'kører allerede' <<<"$line"; then sleep 0.2; fi
    done
    grep -q ': Finished after ' <<<"$line" || { echo "drain $path: not finished: $line" >&2; return 1; }
    grep -q 'waiting for an operator' <<<"$line" && { echo "drain $path: $line" >&2; return 1; }
  done
  return 0
}

# What the database must look like before any slice: the people, their registrations, and
# who is due a letter, removed or closed (our own table zz_people; the database is disposable).
snapshot() {
  T0=$(q "select NOW(6)")   # UTC (see q)
  q "create table zz_people as
       select p.Cpr, p.Status, p.StatusDate, p.BirthDate,
              (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr) as regs,
              (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr and r.ValidTo is null) as active,
              (p.Status = '90' and p.StatusDate <= DATE_SUB('$SIM_TODAY', INTERVAL 12 MONTH)) as dead_long,
              (p.Status = '80') as emigrated,
              (p.Status in ('01','03','05','07') and
               DATE_SUB(DATE_ADD(p.BirthDate, INTERVAL 18 YEAR), INTERVAL 14 DAY) between '$SIM_STARTDATE' and '$SIM_TODAY') as due
       from v2_person_simplified p;
     alter table zz_people add primary key (Cpr);"
  q "create table zz_runs like JobRun"
  E_DUE=$(q "select count(*) from zz_people where due")
  E_DEAD=$(q "select count(*) from zz_people where dead_long and regs > 0")
  E_DEAD_ROWS=$(q "select coalesce(sum(regs),0) from zz_people where dead_long")
  E_EMI=$(q "select count(*) from zz_people where emigrated and active > 0")
  E_EMI_ROWS=$(q "select coalesce(sum(active),0) from zz_people where emigrated")
  E_DATES=$(q "select DATEDIFF('$SIM_TODAY', '$SIM_STARTDATE') + 1")
  [ "$(q 'select count(*) from NotificationPerson')" = 0 ] || { echo "letters exist before the first slice" >&2; return 1; }
}

archive_runs() { q "insert ignore into zz_runs select * from JobRun where Outcome <> 'Skipped'" || true; }

# The exact end state: every due citizen one Completed letter (and one distinct letter at the
# fake, with the same MessageId and templates), exactly the right removals and closures.
assert_final() {
  expect_eq "deceased: registrations left of citizens dead > 12 months" \
    "$(q 'select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.dead_long')" 0
  expect_eq "deceased: letters left of citizens dead > 12 months" \
    "$(q 'select count(*) from NotificationPerson n join zz_people p using (Cpr) where p.dead_long')" 0
  expect_eq "nobody else lost a registration" \
    "$(q 'select count(*) from zz_people p where not p.dead_long and p.regs <> (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr)')" 0
  expect_eq "emigrated: active registrations left" \
    "$(q 'select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.emigrated and r.ValidTo is null')" 0
  expect_eq "emigrated: registrations closed by the job" \
    "$(q "select count(*) from OrganDonorRegistration r join zz_people p using (Cpr) where p.emigrated and r.ValidTo >= '$T0'")" "$E_EMI_ROWS"
  expect_eq "nobody else had a registration closed" \
    "$(q 'select count(*) from zz_people p where not p.emigrated and not p.dead_long and p.active <> (select count(*) from OrganDonorRegistration r where r.Cpr = p.Cpr and r.ValidTo is null)')" 0
  expect_eq "letters in NotificationPerson" "$(q 'select count(*) from NotificationPerson')" "$E_DUE"
  expect_eq "distinct citizens with a letter" "$(q 'select count(distinct Cpr) from NotificationPerson')" "$E_DUE"
  expect_eq "letters to citizens not due" \
    "$(q 'select count(*) from NotificationPerson n left join zz_people p using (Cpr) where p.Cpr is null or not p.due')" 0
  expect_eq "letters not Completed or without SentAtDateTime" \
    "$(q "select count(*) from NotificationPerson where Status <> 'Completed' or SentAtDateTime is null")" 0
  expect_eq "notification dates Completed" \
    "$(q "select count(*) from NotificationDate where Status = 'Completed' and LatestDate between '$SIM_STARTDATE' and '$SIM_TODAY'")" "$E_DATES"
  expect_eq "letters whose template ignores the registration" \
    "$(q "select count(*) from NotificationPerson n join zz_people p using (Cpr) where (p.active > 0) <> (n.TemplateDigital like '%HarTagetStilling')")" 0
  curl -s --max-time 10 "$SIM_CONTROL/dp/letters.tsv" | sort >"$SDIR/fake-letters.tsv"
  q "select Cpr, MessageId, TemplateDigital, TemplatePhysical from NotificationPerson" | sort >"$SDIR/db-letters.tsv"
  expect_eq "distinct letters received by the fake Digital Post" "$(wc -l <"$SDIR/fake-letters.tsv")" "$E_DUE"
  expect_eq "citizens with two distinct letters at the fake" "$(cut -f1 "$SDIR/fake-letters.tsv" | uniq -d | wc -l)" 0
  if diff -q "$SDIR/fake-letters.tsv" "$SDIR/db-letters.tsv" >/dev/null; then
    pass "the fake's letters are the database's letters (CPR, MessageId, templates)"
  else
    fail "the fake's letters differ from NotificationPerson: $(diff "$SDIR/fake-letters.tsv" "$SDIR/db-letters.tsv" | head -5 | cut -c1-20 | tr '\n' ' ')"
  fi
  local dp
  dp=$(curl -s --max-time 10 "$SIM_CONTROL/dp/stats")
  figure "expected: $E_DUE letters over $E_DATES dates, $E_DEAD citizens removed ($E_DEAD_ROWS registrations), $E_EMI closed ($E_EMI_ROWS registrations); fake DP $dp"
}

# Non-Skipped runs of one job must not overlap in time. JobRun.StartedAt is taken before the
# lease UPDATE and EndedAt after the release (src/engine run_slice), so a hand-over between
# nodes can show a few tens of ms of overlap that is not a double run; a real second slice of a
# cleanup would overlap by about its budget (1 s here). Overlaps up to OVERLAP_SLACK_MS are
# counted and shown, longer ones fail. The exact-once checks in assert_final are the proof.
OVERLAP_SLACK_MS=500
check_overlaps() {
  local job rows
  for job in OrganDonorDeceasedCleanup OrganDonorEmigratedCleanup OrganDonorNotification; do
    rows=$(q "select count(*), coalesce(max(TIMESTAMPDIFF(MICROSECOND, b.StartedAt, a.EndedAt)), 0)
              from zz_runs a join zz_runs b on a.JobName = b.JobName and a.JobRunPID <> b.JobRunPID
                and (a.StartedAt < b.StartedAt or (a.StartedAt = b.StartedAt and a.JobRunPID < b.JobRunPID))
                and b.StartedAt < a.EndedAt
              where a.JobName = '$job'")
    local n=${rows%%$'\t'*} us=${rows##*$'\t'}
    local slices
    slices=$(q "select count(*) from zz_runs where JobName = '$job'")
    if [ $((us / 1000)) -le $OVERLAP_SLACK_MS ]; then
      pass "$job: $slices slices, no two at once ($n hand-overs overlap in JobRun by at most $((us / 1000)) ms)"
    else
      fail "$job: $n pairs of overlapping slices among $slices (largest overlap $((us / 1000)) ms)"
    fi
    figure "$job $slices slices (hand-over overlap max $((us / 1000)) ms)"
  done
}

# ---------------------------------------------------------------- scenario 1: cron storm

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

scenario_storm() {
  setup_cluster storm "--recent-dates 5 --per-date 40" "deletion.desired.execution.duration.deceased=PT1S
deletion.desired.execution.duration.emigrated=PT1S
digitalpost.notification.odr.send.desired.execution.duration=PT1S
deletion.batchsize.deceased=500
personinformation.batchsize.deceased=100
deletion.batchsize.emigrated=500
personinformation.batchsize.emigrated=250
personinformation.defaultMaxConnectionsPerRoute=2
digitalpost.notification.odr.send.limit=10
digitalpost.default.max.connections.per.route=5"
  sim POST /pi/latency/150 >/dev/null
  sim POST /dp/latency/100 >/dev/null
  snapshot
  local loops=4 dir=$SDIR/storm end i
  mkdir -p "$dir"
  end=$(($(now_ms) + STORM_SECONDS * 1000))
  log "storm: $loops loops x 3 start URLs every 200 ms through nginx for $STORM_SECONDS s"
  local lpids=()
  for i in $(seq 1 $loops); do
    cron_loop "$i" "$end" $((STORM_SECONDS * 5 + 5)) "$dir" &
    lpids+=($!)
    remember "$!" bash
  done
  while [ "$(now_ms)" -lt "$end" ]; do archive_runs; sleep 2; done
  wait "${lpids[@]}"
  for i in "${lpids[@]}"; do forget "$i"; done
  archive_runs
  local total non200 skipped paused finished failed
  total=$(find "$dir" -type f | wc -l)
  non200=$( (grep -L '^@@HTTP 200$' -r "$dir" || true) | wc -l)
  skipped=$( (grep -l 'kører allerede på en anden node' -r "$dir" || true) | wc -l)
  paused=$( (grep -l ': Paused after ' -r "$dir" || true) | wc -l)
  finished=$( (grep -l ': Finished after ' -r "$dir" || true) | wc -l)
  failed=$( (grep -l 'Failed' -r "$dir" || true) | wc -l)
  cat "$dir"/* | grep -v '^@@HTTP' >"$ANSWERS/storm-all" || true
  expect_eq "storm answers that were not HTTP 200" "$non200" 0
  expect_eq "storm slices that failed" "$failed" 0
  figure "$total requests through nginx: $paused Paused, $finished Finished, $skipped Skipped"
  local by_node
  by_node=$(q "select group_concat(concat(substring_index(Node, ':', -1), '=', n) separator ' ') from (select Node, count(*) n from zz_runs group by Node) x")
  figure "slices per node pid: $by_node"
  DRAIN_CALLS=0
  drain "$LB" || fail "the jobs did not finish after the storm"
  figure "then $DRAIN_CALLS calls until every job answered Finished"
  archive_runs
  check_overlaps
  assert_final
}

# ---------------------------------------------------------------- scenario 2: kill -9

lease_of() { q "select concat(coalesce(Owner,''), '|', coalesce(Token,0), '|', coalesce(LockedUntil > NOW(6), 0)) from JobLock where JobName = '$1'"; }

scenario_kill() {
  setup_cluster kill "--recent-dates 5 --per-date 40" "deletion.desired.execution.duration.deceased=PT3S
deletion.desired.execution.duration.emigrated=PT3S
digitalpost.notification.odr.send.desired.execution.duration=PT3S
deletion.batchsize.deceased=500
personinformation.batchsize.deceased=100
deletion.batchsize.emigrated=250
personinformation.batchsize.emigrated=125
personinformation.defaultMaxConnectionsPerRoute=2
digitalpost.notification.odr.send.limit=10
digitalpost.default.max.connections.per.route=5"
  sim POST /pi/latency/200 >/dev/null
  sim POST /dp/latency/300 >/dev/null
  snapshot
  local i killed=0 early=0 resumed=0 mid_letters=0
  local klog=$SDIR/kills.log
  : >"$klog"
  for i in $(seq 1 "$KILLS"); do
    # Seeded choice: while letters are due, two kills in three hit the notification job; else a random job
    # that still has work.
    local path=${STARTS[$((RANDOM % 3))]} pending_dates
    pending_dates=$((E_DATES - $(q "select count(*) from NotificationDate where Status = 'Completed'")))
    if [ $((i % 3)) -ne 0 ] && [ "$pending_dates" -gt 0 ]; then
      path=${STARTS[2]}
    elif [ "$pending_dates" -eq 0 ]; then
      path=${STARTS[$((RANDOM % 2))]}
    fi
    local job=${JOB_OF[$path]} delay=$((100 + RANDOM % 2400))
    local before token0 lease owner token pid victim=0 survivor
    before=$(lease_of "$job")
    token0=$(cut -d'|' -f2 <<<"$before")
    local out=$SDIR/kill-$i.answer
    curl -s --max-time 120 -w '\n@@HTTP %{http_code}\n' "$LB$path" >"$out" 2>/dev/null &
    local cpid=$!
    remember "$cpid" curl
    # Wait until a node holds the lease with a new token: that node runs the slice.
    local t
    for t in $(seq 1 200); do
      lease=$(lease_of "$job")
      token=$(cut -d'|' -f2 <<<"$lease")
      [ "$token" -gt "$token0" ] && [ -n "$(cut -d'|' -f1 <<<"$lease")" ] && break
      kill -0 "$cpid" 2>/dev/null || break
      sleep 0.02
    done
    owner=$(cut -d'|' -f1 <<<"$lease")
    pid=${owner##*:}
    [ "$pid" = "${NODE_PID[1]}" ] && victim=1
    [ "$pid" = "${NODE_PID[2]}" ] && victim=2
    if [ $victim = 0 ]; then
      wait "$cpid" || true
      echo "kill #$i job=$job: no slice seen (lease $lease; answer $(head -1 "$out"))" >>"$klog"
      early=$((early + 1))
      continue
    fi
    survivor=$((3 - victim))
    local sent_before
    sent_before=$(q "select count(*) from NotificationPerson where Status in ('Sent','Completed')")
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if ! kill -0 "$cpid" 2>/dev/null || [ "$(cut -d'|' -f3 <<<"$(lease_of "$job")")" != 1 ] ||
      [ "$(cut -d'|' -f2 <<<"$(lease_of "$job")")" != "$token" ]; then
      wait "$cpid" || true
      echo "kill #$i job=$job node=$victim delay=${delay}ms: the slice ended first ($(head -1 "$out"))" >>"$klog"
      early=$((early + 1))
      continue
    fi
    local inprog
    inprog=$(q "select count(*) from NotificationPerson where Status = 'InProgress'")
    ours "$pid" "odr-operations" && kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    killed=$((killed + 1))
    [ "$inprog" -gt 0 ] && mid_letters=$((mid_letters + 1))
    wait "$cpid" || true
    forget "$cpid"
    cp "$out" "$ANSWERS/kill-$i"
    local lbcode
    lbcode=$(sed -n 's/^@@HTTP //p' "$out")
    echo "kill #$i job=$job node=$victim pid=$pid token=$token after ${delay}ms (letters InProgress: $inprog, sent before: $sent_before; the cron call through nginx answered $lbcode: $(head -1 "$out" | cut -c1-90))" >>"$klog"
    if kill -0 "$pid" 2>/dev/null; then fail "kill #$i: node $victim (pid $pid) still alive"; fi
    lease=$(lease_of "$job")
    if [ "$(cut -d'|' -f1,2 <<<"$lease")" = "|$token" ]; then
      # The slice released its lease in the few ms between the last look and the kill: it had ended.
      echo "kill #$i: the slice released its lease just before the kill; nothing to take over" >>"$klog"
      killed=$((killed - 1))
      [ "$inprog" = 0 ] || mid_letters=$((mid_letters - 1))
      early=$((early + 1))
      start_node "$victim"
      continue
    fi
    # The dead node's lease still stands: the other node must not run the job yet.
    expect_eq "kill #$i: the lease is still the dead node's" "$(cut -d'|' -f1,2,3 <<<"$lease")" "$owner|$token|1"
    get "$(node_url $survivor)$path"
    expect_has "kill #$i: the other node answers that the job runs elsewhere" "$BODY" "$job kører allerede på en anden node."
    # Model the passing of budget + 60 s: expire exactly the dead node's lease (same owner, same token).
    expect_eq "kill #$i: expired the dead node's lease" \
      "$(q "update JobLock set LockedUntil = NOW(6) - INTERVAL 1 SECOND where JobName = '$job' and Owner = '$owner' and Token = $token; select ROW_COUNT()")" 1
    get "$(node_url $survivor)$path"
    if grep -qE ": (Paused|Finished) after " <<<"$BODY"; then
      resumed=$((resumed + 1))
      pass "kill #$i: the job resumed on node $survivor: $(cut -c1-110 <<<"$BODY")"
    else
      fail "kill #$i: node $survivor did not resume the job: $BODY"
    fi
    expect_eq "kill #$i: the newest slice ran on the surviving node" \
      "$(q "select substring_index(Node, ':', -1) from JobRun where JobName = '$job' and Outcome <> 'Skipped' order by JobRunPID desc limit 1")" "${NODE_PID[$survivor]}"
    start_node "$victim"
  done
  sed 's/^/    /' "$klog"
  [ "$killed" -ge $((KILLS / 2)) ] || fail "only $killed of $KILLS kills landed mid-slice"
  drain "$LB" || fail "the jobs did not finish after the kills"
  assert_final
  figure "seed $SEED: $killed nodes killed mid-slice ($mid_letters with letters InProgress), $early slices ended before the kill point, $resumed resumed on the other node"
}

# ---------------------------------------------------------------- scenario 3: MariaDB restart

scenario_dbrestart() {
  setup_cluster dbrestart "--recent-dates 3 --per-date 10" "deletion.desired.execution.duration.deceased=PT4S
deletion.batchsize.deceased=200
personinformation.batchsize.deceased=100
personinformation.defaultMaxConnectionsPerRoute=1"
  sim POST /pi/latency/300 >/dev/null
  snapshot
  local path=${STARTS[0]} job=OrganDonorDeceasedCleanup token0 lease t
  token0=$(cut -d'|' -f2 <<<"$(lease_of $job)")
  local out=$SDIR/slice.answer
  curl -s --max-time 120 -w '\n@@HTTP %{http_code}\n' "$LB$path" >"$out" 2>/dev/null &
  local cpid=$!
  remember "$cpid" curl
  for t in $(seq 1 200); do
    lease=$(lease_of $job)
    [ "$(cut -d'|' -f2 <<<"$lease")" -gt "$token0" ] && break
    sleep 0.02
  done
  sleep 1.5
  local cursor_before
  cursor_before=$(q "select coalesce(ResumeCursor,'') from JobState where JobName = '$job'")
  log "dbrestart: mariadb-admin shutdown while $job runs (lease $(cut -d'|' -f2 <<<"$lease"))"
  touch "$STOPPED_MARK"
  local down_at=$SECONDS
  mariadb-admin -uroot -h127.0.0.1 shutdown
  for t in $(seq 1 240); do pgrep -x mariadbd >/dev/null || break; sleep 0.25; done
  if pgrep -x mariadbd >/dev/null; then fail "mariadbd still runs 60 s after shutdown"; fi
  wait "$cpid" || true
  local answer code
  answer=$(grep -v '^@@HTTP' "$out")
  code=$(sed -n 's/^@@HTTP //p' "$out")
  cp "$out" "$ANSWERS/dbrestart-slice"
  expect_eq "the running slice answers HTTP 200" "$code" 200
  expect_has "the running slice failed cleanly" "$answer" "$job: Failed: "
  local n
  for n in 1 2; do
    get "$(node_url $n)$SLET_STATUS"
    expect_eq "node $n status while MariaDB is down" "$CODE" 500
    expect_has "node $n status text" "$BODY" "Database : Unavailable"
    [ $n = 1 ] || continue
    get "$(node_url $n)$SLET_ALARM"
    expect_eq "node $n alarm while MariaDB is down" "$CODE" 500
    expect_has "node $n alarm line" "$BODY" "$DB_LINE"
    get "$(node_url $n)$NOTI_STATUS"
    expect_eq "node $n notification status while MariaDB is down" "$CODE" 500
    expect_has "node $n notification status JSON" "$BODY" '"Database":"Unavailable"'
    get "$(node_url $n)${STARTS[1]}"
    expect_eq "node $n start while MariaDB is down answers" "$CODE" 200
    expect_has "node $n start while MariaDB is down" "$BODY" "Failed: "
  done
  get "$LB$SLET_STATUS"
  expect_eq "status through nginx while MariaDB is down" "$CODE" 500
  start_mariadb || { fail "MariaDB did not start again"; return 1; }
  rm -f "$STOPPED_MARK"
  local down_for=$((SECONDS - down_at))
  log "dbrestart: MariaDB answers again, $down_for s after the shutdown"
  sim POST /pi/latency/0 >/dev/null
  # Both nodes must answer 200 again by themselves, within 20 s.
  local recovered=1 up_at=$SECONDS c1=000 c2=000
  for t in $(seq 1 100); do
    [ "$c1" = 200 ] || c1=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(node_url 1)$SLET_STATUS" || true)
    [ "$c2" = 200 ] || c2=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(node_url 2)$SLET_STATUS" || true)
    [ "$c1" = 200 ] && [ "$c2" = 200 ] && break
    sleep 0.2
  done
  for n in 1 2; do
    local c=$([ $n = 1 ] && echo "$c1" || echo "$c2")
    if [ "$c" = 200 ]; then
      pass "node $n status back to 200 (both within $((SECONDS - up_at)) s)"
    else
      fail "node $n status still $c 20 s after MariaDB answered again (dead pooled connections are not replaced: does src/db/mod.rs still test connections on checkout?)"
      recovered=0
    fi
  done
  if [ $recovered = 0 ]; then
    log "dbrestart: restarting both nodes (the operator's workaround) to check that nothing was lost"
    stop_recorded "odr-operations --config $SDIR/node1/operations.properties serve"
    stop_recorded "odr-operations --config $SDIR/node2/operations.properties serve"
    start_node 1
    start_node 2
  fi
  # The failed slice could not release its lease (the database was down): it stands until
  # budget + 60 s. Its slice has answered, so no slice runs: model the wait by expiring it.
  lease=$(lease_of $job)
  if [ "$(cut -d'|' -f3 <<<"$lease")" = 1 ]; then
    get "$LB$path"
    expect_has "while the failed slice's lease stands, a call is skipped" "$BODY" "kører allerede på en anden node"
    q "update JobLock set LockedUntil = NOW(6) - INTERVAL 1 SECOND where JobName = '$job' and Owner = '$(cut -d'|' -f1 <<<"$lease")' and Token = $(cut -d'|' -f2 <<<"$lease")"
  fi
  get "$LB$path"
  if grep -qE ": (Paused|Finished) after " <<<"$BODY"; then pass "the next call resumes: $(cut -c1-100 <<<"$BODY")"; else fail "the next call: $BODY"; fi
  local cursor_after
  cursor_after=$(q "select coalesce(ResumeCursor,'') from JobState where JobName = '$job'")
  if [ -z "$cursor_after" ] || [[ "$cursor_after" > "$cursor_before" ]]; then
    pass "the resume point moved on from where the outage left it"
  else
    fail "the resume point went back"
  fi
  get "$LB$SLET_ALARM"
  expect_lacks "the database line has left the alarm page" "$BODY" "$DB_LINE"
  drain "$LB" || fail "the jobs did not finish after the restart"
  assert_final
  figure "MariaDB down $down_for s, node pools recovered: $([ $recovered = 1 ] && echo yes || echo 'no (nodes restarted)')"
}

# ---------------------------------------------------------------- scenario 4: faults in the fakes

# pi_fault FAULT PATH EXPECTED-REASON
pi_fault() {
  local fault=$1 path=$2 reason=$3 job=${JOB_OF[$2]} events
  events=$(q "select count(*) from ErrorEvent where Service = 'PersonInformation'")
  sim POST "/pi/fault/$fault" >/dev/null
  get "$LB$path"
  expect_eq "PI $fault: start answers" "$CODE" 200
  expect_has "PI $fault: the slice fails with the reason" "$BODY" "$job: Failed: $PI_PREFIX$reason"
  get "$LB$SLET_ALARM"
  expect_eq "PI $fault: alarm page" "$CODE" 500
  expect_has "PI $fault: last-run line" "$BODY" "$FAILED_LINE$PI_PREFIX$reason."
  expect_has "PI $fault: tolerance line" "$BODY" "$PI_TOLERANCE_LINE"
  expect_eq "PI $fault: one more ErrorEvent" "$(q "select count(*) > $events from ErrorEvent where Service = 'PersonInformation'")" 1
  sim POST /pi/fault/none >/dev/null
  get "$LB$path"
  if grep -qE ": (Paused|Finished) after " <<<"$BODY"; then pass "PI $fault: recovered: $(cut -c1-90 <<<"$BODY")"; else fail "PI $fault: after recovery: $BODY"; fi
  get "$LB$SLET_ALARM"
  expect_lacks "PI $fault: the last-run line is gone" "$BODY" "$FAILED_LINE"
  FAULTS=$((FAULTS + 1))
}

# dp_fault FAULT EXPECTED-REASON
dp_fault() {
  local fault=$1 reason=$2 path=${STARTS[2]}
  sim POST "/dp/fault/$fault" >/dev/null
  get "$LB$path"
  expect_eq "DP $fault: start answers" "$CODE" 200
  expect_has "DP $fault: the slice fails with the reason" "$BODY" "OrganDonorNotification: Failed: $DP_PREFIX$reason"
  expect_eq "DP $fault: letters left InProgress or Error" \
    "$(q "select count(*) from NotificationPerson where Status in ('InProgress', 'Error')")" 0
  get "$LB$NOTI_ALARM"
  expect_eq "DP $fault: alarm page" "$CODE" 500
  expect_has "DP $fault: last-run line" "$BODY" "$FAILED_LINE$DP_PREFIX$reason."
  expect_has "DP $fault: tolerance line" "$BODY" "$DP_TOLERANCE_LINE"
  sim POST /dp/fault/none >/dev/null
  get "$LB$path"
  if grep -qE ": (Paused|Finished) after " <<<"$BODY"; then pass "DP $fault: recovered: $(cut -c1-90 <<<"$BODY")"; else fail "DP $fault: after recovery: $BODY"; fi
  get "$LB$NOTI_ALARM"
  expect_lacks "DP $fault: the last-run line is gone" "$BODY" "$FAILED_LINE"
  FAULTS=$((FAULTS + 1))
}

scenario_faults() {
  setup_cluster faults "--recent-dates 3 --per-date 60" "deletion.desired.execution.duration.deceased=PT1S
deletion.desired.execution.duration.emigrated=PT1S
digitalpost.notification.odr.send.desired.execution.duration=PT1S
deletion.batchsize.deceased=1000
deletion.batchsize.emigrated=1000
digitalpost.notification.odr.send.limit=10
digitalpost.default.max.connections.per.route=5"
  sim POST /pi/latency/20 >/dev/null
  # About 30 letters per 1 s slice, so every Digital Post fault finds letters to send.
  sim POST /dp/latency/200 >/dev/null
  snapshot
  FAULTS=0
  pi_fault 409 "${STARTS[0]}" "kaldet til PersonInformation-servicen returnerede en uventet statuskode: 409"
  pi_fault 500 "${STARTS[1]}" "kaldet til PersonInformation-servicen returnerede en uventet statuskode: 500"
  pi_fault hang "${STARTS[0]}" "kaldet til PersonInformation-servicen ikke svarede inden for tidsgrænsen"
  pi_fault garbage "${STARTS[1]}" "svaret fra PersonInformation-servicen ikke kunne læses"
  dp_fault 503 "uventet statuskode 503"
  dp_fault hang "timeout"
  # soap:Server ("Internt systemfel") is the adapter's failure, not a rejection (SPEC 6, 7):
  # letters back to Pending, no Error row, the date not held, an ErrorEvent; sent once after.
  dp_fault soap-server "serverfejl (soap:Server): Internt systemfel"
  # A soap:Client Fault for one citizen: that letter becomes Error, the others go on, the date
  # waits; a rejection is about the letter, so no ErrorEvent.
  local cpr id t events
  events=$(q "select count(*) from ErrorEvent where Service = 'DigitalPost'")
  cpr=$(q "select p.Cpr from zz_people p left join NotificationPerson n using (Cpr) where p.due and n.Cpr is null order by p.BirthDate desc, p.Cpr limit 1")
  sim POST "/dp/reject/$cpr" "Modtageren $cpr har ingen digital postkasse" >/dev/null
  for t in $(seq 1 40); do
    get "$LB${STARTS[2]}"
    [ "$(q "select count(*) from NotificationPerson where Cpr = '$cpr' and Status = 'Error'")" = 1 ] && break
  done
  expect_eq "DP SOAP Fault: the letter is Error" "$(q "select Status from NotificationPerson where Cpr = '$cpr'")" Error
  expect_eq "DP SOAP Fault: ErrorMessage has the faultstring, digits masked" \
    "$(q "select ErrorMessage from NotificationPerson where Cpr = '$cpr'")" "Modtageren ********** har ingen digital postkasse"
  for t in $(seq 1 40); do
    get "$LB${STARTS[2]}"
    grep -q 'waiting for an operator' <<<"$BODY" && break
  done
  expect_has "DP SOAP Fault: the date waits for an operator" "$BODY" "1 with status Error; waiting for an operator"
  get "$LB$NOTI_ALARM"
  expect_has "DP SOAP Fault: Error total line" "$BODY" "Der ligger totalt 1 notifikationer med status Error."
  expect_eq "DP SOAP Fault: a rejection is no ErrorEvent" \
    "$(q "select count(*) from ErrorEvent where Service = 'DigitalPost'")" "$events"
  sim POST /dp/clear-rejections >/dev/null
  id=$(q "select NotificationPersonPID from NotificationPerson where Cpr = '$cpr'")
  expect_eq "DP SOAP Fault: the runbook's repair SQL" \
    "$(q "update NotificationPerson set Status = \"Pending\", SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = $id and status = \"Error\"; select ROW_COUNT()")" 1
  FAULTS=$((FAULTS + 1))
  drain "$LB" || fail "the jobs did not finish after the faults"
  local pi
  pi=$(curl -s --max-time 10 "$SIM_CONTROL/pi/stats")
  assert_final
  figure "$FAULTS faults injected (PI 409, 500, hang, garbage; DP 503, hang, soap:Server, soap:Client); ErrorEvents $(q 'select count(*) from ErrorEvent'); fake PI $pi"
}

# ---------------------------------------------------------------- scenario 5: hostile input

scenario_hostile() {
  local token="cluster-token-$SEED"
  setup_cluster hostile "--recent-dates 3 --per-date 10" "operations.start.token=$token
digitalpost.notification.odr.send.desired.execution.duration=PT1S
digitalpost.notification.odr.send.limit=5
digitalpost.default.max.connections.per.route=1"
  sim POST /dp/latency/100 >/dev/null
  snapshot
  local tried=0 runs0 base path m cpr
  cpr=$(head -1 "$WORK/cprs.txt")
  runs0=$(q "select count(*) from JobRun")
  local big junk
  big=$(head -c 40000 /dev/zero | tr '\0' 'x')
  # 200 KB in one header line: above nginx's 8 KB and actix-web's head limit (about 128 KB).
  { printf 'X-Junk: '; head -c 200000 /dev/zero | tr '\0' 'z'; echo; } >"$SDIR/huge-header.txt"
  junk=$(head -c 6000 /dev/zero | tr '\0' 'y')
  for base in "$LB" "$(node_url 1)"; do
    local via=$([ "$base" = "$LB" ] && echo nginx || echo direct)
    for path in "${STARTS[@]}"; do
      for m in POST PUT DELETE PATCH OPTIONS HEAD TRACE PROPFIND FOO; do
        http "$m" "$base$path" -H "Authorization: Bearer $token"
        tried=$((tried + 1))
        case "$CODE" in 405 | 400 | 501) ;; *) fail "$via $m ${path##*/odr-operations/}: HTTP $CODE" ;; esac
      done
      get "$base$path"
      expect_eq "$via no token" "$CODE" 401
      get "$base$path" -H "Authorization: Bearer wrong-$token"
      expect_eq "$via wrong token" "$CODE" 401
      get "$base$path" -H "Authorization: bearer $token"
      expect_eq "$via lower-case scheme" "$CODE" 401
      get "$base$path" -H "Authorization: Basic $(printf 'root:%s' "$token" | base64 -w0)"
      expect_eq "$via Basic auth" "$CODE" 401
      get "$base$path" -H "Authorization: Bearer $token$junk"
      expect_eq "$via 6 KB token" "$CODE" 401
      get "$base$path" -H "Authorization: Bearer $token" -H "@$SDIR/huge-header.txt"
      case "$CODE" in 400 | 413 | 431 | 494) pass "$via 200 KB header refused ($CODE)" ;; *) fail "$via 200 KB header: HTTP $CODE" ;; esac
      tried=$((tried + 6))
    done
    get "$base/odr-operations/odr-slettejob/$cpr/start"
    expect_eq "$via unknown path with a CPR" "$CODE" 404
    get "$base/odr-operations/../../etc/passwd" --path-as-is
    case "$CODE" in 400 | 404) pass "$via path traversal refused ($CODE)" ;; *) fail "$via path traversal: HTTP $CODE" ;; esac
    get "$base/odr-operations/$big"
    case "$CODE" in 400 | 404 | 414 | 431 | 494) pass "$via 40 KB path refused ($CODE)" ;; *) fail "$via 40 KB path: HTTP $CODE" ;; esac
    http GET "$base$SLET_STATUS" -D "$SDIR/headers" -H "X-Request-ID: evil value $cpr"
    local rid
    rid=$(tr -d '\r' <"$SDIR/headers" | sed -n 's/^x-request-id: //Ip')
    if [[ "$rid" =~ ^[0-9a-f-]{36}$ ]]; then pass "$via hostile X-Request-ID replaced by $rid"; else fail "$via X-Request-ID echoed: $rid"; fi
    tried=$((tried + 4))
  done
  expect_eq "nothing ran for refused calls (JobRun rows)" "$(q 'select count(*) from JobRun')" "$runs0"
  # Query strings are ignored; the right token runs a slice; nothing of the query is echoed.
  get "$LB${STARTS[0]}?cpr=$cpr&detailed&x=%00%ff%0d%0a" -H "Authorization: Bearer $token"
  expect_eq "start with a query string" "$CODE" 200
  expect_lacks "the query's CPR is not echoed" "$BODY" "$cpr"
  get "$LB${STARTS[2]}?limit=-1&$(printf 'a%.0s' $(seq 1 2000))=1" -H "Authorization: Bearer $token"
  expect_eq "notification start with a long query string" "$CODE" 200
  tried=$((tried + 2))
  # An operator writes a Status value that does not exist, on a letter and then on a date.
  TOKEN_HDR="Authorization: Bearer $token"
  local id date
  id=$(q "select NotificationPersonPID from NotificationPerson where Status in ('Pending', 'Sent') order by NotificationPersonPID limit 1")
  [ -n "$id" ] || { fail "no letter to play the operator with"; return 1; }
  q "update NotificationPerson set Status = \"Sendt\" where NotificationPersonPID = $id"
  local t
  for t in $(seq 1 40); do
    get "$LB${STARTS[2]}" -H "$TOKEN_HDR"
    grep -q 'waiting for an operator' <<<"$BODY" && break
  done
  expect_has "unknown letter status: the job stops at the date" "$BODY" "1 with status Sendt; waiting for an operator"
  get "$LB$NOTI_ALARM"
  expect_eq "unknown letter status: alarm page" "$CODE" 500
  expect_has "unknown letter status: alarm line" "$BODY" "Der ligger 1 notifikationer med ukendt status Sendt."
  get "$LB$NOTI_STATUS"
  expect_eq "unknown letter status: the status page still answers" "$CODE" 200
  q "update NotificationPerson set Status = \"Pending\", SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = $id and Status = \"Sendt\""
  get "$LB${STARTS[2]}" -H "$TOKEN_HDR"
  date=$(q "select LatestDate from NotificationDate where Status <> 'Completed' order by LatestDate limit 1")
  if [ -z "$date" ]; then
    date=$(q "select max(LatestDate) from NotificationDate")
  fi
  local was
  was=$(q "select Status from NotificationDate where LatestDate = '$date'")
  q "update NotificationDate set Status = \"Færdig\" where LatestDate = '$date'"
  get "$LB${STARTS[2]}" -H "$TOKEN_HDR"
  expect_eq "unknown date status: start answers" "$CODE" 200
  expect_has "unknown date status: the job stops at the date" "$BODY" "date $date has the unknown status Færdig"
  get "$LB$NOTI_ALARM"
  expect_has "unknown date status: alarm line" "$BODY" "Der ligger 1 notifikationsdatoer med ukendt status Færdig."
  for m in 1 2; do
    get "$(node_url $m)$SLET_STATUS"
    expect_eq "node $m still serves" "$CODE" 200
  done
  q "update NotificationDate set Status = \"$was\" where LatestDate = '$date' and Status = \"Færdig\""
  tried=$((tried + 2))
  drain "$LB" || fail "the jobs did not finish after the operator's repairs"
  unset TOKEN_HDR
  assert_final
  # The whole suite: no answer and no application log carries a CPR number of the population
  # or a stack trace; the audit log does carry them (it is the only place).
  local answers leaked traces applog audit_cprs
  answers=$(find "$ANSWERS" -type f | wc -l)
  leaked=$( (cat "$ANSWERS"/* 2>/dev/null | grep -aoE '[0-9]{10}' || true) | sort -u | comm -12 - "$WORK/cprs.txt" | wc -l)
  expect_eq "CPR numbers in the suite's $answers answer files (incl. every storm answer)" "$leaked" 0
  traces=$(cat "$ANSWERS"/* 2>/dev/null | grep -acE 'panicked at|stack backtrace|RUST_BACKTRACE|src/[a-z_/]+\.rs:[0-9]+' || true)
  expect_eq "stack traces in answers" "$traces" 0
  applog=$( (find "$WORK" -path '*/node*' \( -name console.log -o -name 'odr-operations*.log' \) -print0 | xargs -0 cat |
    grep -aoE '[0-9]{10}' || true) | sort -u | comm -12 - "$WORK/cprs.txt" | wc -l)
  expect_eq "CPR numbers in the application logs and consoles of every node" "$applog" 0
  audit_cprs=$( (find "$WORK" -path '*/node*' -name 'audit*.log' -print0 | xargs -0 cat | grep -aoE '[0-9]{10}' || true) |
    sort -u | comm -12 - "$WORK/cprs.txt" | wc -l)
  if [ "$audit_cprs" -gt 0 ]; then pass "the audit logs name $audit_cprs citizens"; else fail "the audit logs name nobody"; fi
  figure "$tried hostile requests (nginx and direct), 2 unknown Status values, $answers answers scanned"
}

# ---------------------------------------------------------------- runner

PASSED=0
FAILED=0
SUMMARY=()
run_scenario() {
  local name=$1 t0=$SECONDS rc
  log "== scenario $name"
  set +e
  (
    set -euo pipefail
    trap 'stop_recorded "odr-operations simulate"; signal_recorded KILL curl; signal_recorded TERM bash; for n in 1 2; do stop_recorded "odr-operations --config $WORK/'"$name"'/node$n/operations.properties serve"; done' EXIT
    "scenario_$name"
    echo "$FIGURES" >"$WORK/$name.figures"
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
  fi
  printf '%s\n' "${SUMMARY[-1]}"
  # A scenario that died with MariaDB down must not take the next ones with it.
  if [ -e "$STOPPED_MARK" ]; then start_mariadb || true; rm -f "$STOPPED_MARK"; fi
}

main() {
  ensure_tools
  build
  NODE_PORT[1]=$(free_port)
  NODE_PORT[2]=$(free_port)
  start_nginx
  log "seed $SEED; nginx $LB -> nodes on ports ${NODE_PORT[1]} and ${NODE_PORT[2]}; work dir $WORK"
  local scenarios=("$@")
  [ ${#scenarios[@]} -gt 0 ] || scenarios=(storm kill dbrestart faults hostile)
  local s
  for s in "${scenarios[@]}"; do
    declare -F "scenario_$s" >/dev/null || { echo "unknown scenario $s" >&2; exit 2; }
    run_scenario "$s"
  done
  echo
  printf '%s\n' "${SUMMARY[@]}"
  echo "suite time $((SECONDS - SUITE_START)) s"
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

main "$@"; exit $?
