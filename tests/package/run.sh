#!/usr/bin/env bash
# Package and monitoring suite of odr-operations (issue 17), on REAL tools and a real install:
#   cargo deb -> the .deb's files, Depends, conffiles -> dpkg -i -> files, owners, modes, the system
#   user, conffiles -> systemd-analyze verify -> the installed binary started exactly as the unit's
#   ExecStart (User=, WorkingDirectory=, UMask=, NoNewPrivileges, empty capability bounding set;
#   there is no systemd as PID 1 here) against a fresh MariaDB database and the fake services
#   (`odr-operations simulate`) -> the pages -> Nagios: nagios4 -v on the object file, then its
#   check_http / check_odr_alarm command lines in each state (OK, a failed last slice, recovered,
#   the database down, the node down) -> the cron file's lines run as cron would -> promtool
#   check config / check rules / test rules / check metrics (on the real /odr-operations/metrics)
#   -> a real prometheus scraping two nodes, asserted through its HTTP API -> nginx with the
#   shipped snippets in front of both nodes -> SIGTERM -> dpkg -i again (the upgrade path) ->
#   dpkg -r (conffiles stay) -> dpkg --purge (nothing left, the modified conffile included).
#
# Usage: bash tests/package/run.sh        (as root, on Debian; MariaDB at 127.0.0.1:3306, root, no password)
# Env:   PACKAGE_DEB=<file.deb>   test this package instead of running `cargo deb`
#        PACKAGE_KEEP=1           keep the work dir, the database and the installed package
# Installs what is missing: monitoring-plugins-basic, prometheus, nginx, curl, jq, mariadb-client
# (Debian), cargo-deb (cargo install --locked); nagios4-core is only downloaded (apt-get download,
# kept in target/package-tools/) and unpacked into the work dir for `nagios4 -v`.
# Prints one line per check and ends with `N passed, M failed`; exit code 0 only when nothing failed.
# Loopback only; every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/suite.sh
. "$ROOT/tests/suite.sh"
PKG=odr-operations
SUITE_START=$SECONDS
WORK=$(mktemp -d /tmp/odr-package.XXXXXX)
chmod 0711 "$WORK" # the service user reaches its own sub-directories only
PIDFILE=$WORK/pids # "pid<TAB>command line" of every process this suite started
: >"$PIDFILE"
MYSQL_SERVER=mysql://root@127.0.0.1:3306
DB=odr_pkg_test_$$_$RANDOM
DB_CREATED=0
INSTALLED_BY_SUITE=0
TOKEN=pkg-test-token-$RANDOM$RANDOM
PLUGINS=/usr/lib/nagios/plugins
UNIT=/usr/lib/systemd/system/$PKG.service
CONF=/etc/$PKG/operations.properties
EXAMPLES=/usr/share/doc/$PKG/examples
NEW_GAUGES=(odr_job_last_run_failed odr_job_seconds_since_last_work odr_job_stale_limit_seconds
  odr_external_errors_in_window odr_external_error_tolerance odr_notification_lag_seconds
  odr_notification_lag_limit_seconds)
JOBS=(OrganDonorDeceasedCleanup OrganDonorEmigratedCleanup OrganDonorNotification)
SLET_STATUS=/odr-operations/odr-slettejob/status
SLET_ALARM=/odr-operations/odr-slettejob/alarm
NOTI_STATUS=/odr-operations/odr-send-digitalpost-notifikation/status
NOTI_ALARM=/odr-operations/odr-send-digitalpost-notifikation/alarm
DECEASED_START=/odr-operations/odr-slettejob/deceased/start
METRICS=/odr-operations/metrics
DB_LINE='Der er ingen forbindelse til databasen med JNDI navnet java:jboss/datasources/ODR-DS'
FAILED_LINE='Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: '
PI_TOLERANCE_LINE='Person Information servicen har fejlet flere gange end tilladt i en given periode.'

PASSED=0
FAILED=0
SKIPS=()
pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL  %s\n' "$*"; }
skip() { SKIPS+=("$*"); printf 'SKIP  %s\n' "$*"; }
info() { printf 'info  %s\n' "$*"; }
phase() { printf '\n== %s (%s, %d s)\n' "$*" "$(date -u +%H:%M:%S)" $((SECONDS - SUITE_START)); }
expect_has() { if grep -qF -- "$3" <<<"$2"; then pass "$1"; else fail "$1: [$(head -c 600 <<<"$2")] lacks [$3]"; fi; }
expect_lacks() { if grep -qF -- "$3" <<<"$2"; then fail "$1: [$(head -c 600 <<<"$2")] contains [$3]"; else pass "$1"; fi; }
expect_match() { if grep -qE -- "$3" <<<"$2"; then pass "$1"; else fail "$1: [$(head -c 600 <<<"$2")] does not match /$3/"; fi; }
# expect_cmd NAME CMD...: passes when CMD exits 0; shows its output otherwise.
expect_cmd() {
  local name=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  if [ $rc -eq 0 ]; then pass "$name"; else fail "$name: exit $rc: $(head -c 1500 <<<"$out")"; fi
}
# expect_mode NAME PATH MODE OWNER:GROUP
expect_mode() {
  local got
  got=$(stat -c '%a %U:%G' "$2" 2>/dev/null || echo "missing")
  expect_eq "$1: $2 mode and owner" "$got" "$3 $4"
}

# ---------------------------------------------------------------- processes and clean-up

remember() { printf '%s\t%s\n' "$1" "$2" >>"$PIDFILE"; }
stop_pid() { # pid what [seconds]: TERM, wait, KILL; sets STOP_RC to its exit code when it was our child
  local pid=$1 what=$2 limit=${3:-30} i
  STOP_RC=""
  ours "$pid" "$what" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 $((limit * 10))); do
    ours "$pid" "$what" || break
    sleep 0.1
  done
  if ours "$pid" "$what"; then kill -KILL "$pid" 2>/dev/null || true; STOP_RC=killed; fi
  if [ -z "$STOP_RC" ]; then
    STOP_RC=0
    wait "$pid" 2>/dev/null || STOP_RC=$?
  fi
  sed -i "/^$pid\t/d" "$PIDFILE"
}
stop_all() {
  local pid what
  while IFS=$'\t' read -r pid what; do
    [ -n "$pid" ] && stop_pid "$pid" "$what" 10
  done < <(tac "$PIDFILE")
}

q() { mariadb -uroot -h127.0.0.1 -N -B --init-command="SET time_zone = '+00:00'" "$DB" -e "$1"; }
mariadb_ok() { mariadb -uroot -h127.0.0.1 -N -e 'select 1' >/dev/null 2>&1; }

FINISHED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all || true
  if [ "$FINISHED" = 0 ]; then
    # Stopped early (a step the rest depends on failed, or an interrupt): still a closing line.
    fail "the suite stopped early (exit code $rc) after $((SECONDS - SUITE_START)) s"
    echo "$PASSED passed, $FAILED failed"
    [ $rc -ne 0 ] || rc=1
  fi
  if [ "${PACKAGE_KEEP:-0}" = 1 ]; then
    echo "kept $WORK, database $DB and the installed package (PACKAGE_KEEP=1)"
  else
    if [ "$DB_CREATED" = 1 ]; then
      mariadb -uroot -h127.0.0.1 -e "drop database if exists \`$DB\`" 2>/dev/null || true
    fi
    if [ "$INSTALLED_BY_SUITE" = 1 ] && dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv 'not-installed'; then
      echo "clean-up: purging $PKG (the suite installed it)"
      dpkg --purge "$PKG" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# http METHOD URL [curl args...]: sets CODE, BODY and HEADERS.
http() {
  local method=$1 url=$2
  shift 2
  CODE=$(curl -s --max-time 60 -X "$method" -D "$WORK/headers" -o "$WORK/body" -w '%{http_code}' "$@" "$url" || true)
  BODY=$(cat "$WORK/body" 2>/dev/null || true)
  HEADERS=$(cat "$WORK/headers" 2>/dev/null || true)
}
auth() { printf 'Authorization: Bearer %s' "$TOKEN"; }

# setprop FILE KEY VALUE: sets KEY in a properties file: the active line, else the first
# commented-out one, else a new line.
setprop() {
  local file=$1 key=$2 value=$3 k
  k=$(sed 's/[.[\*^$/]/\\&/g' <<<"$key")
  if grep -q "^$k=" "$file"; then
    sed -i "s|^$k=.*|$key=$value|" "$file"
  elif grep -q "^#$k=" "$file"; then
    sed -i "0,/^#$k=.*/s||$key=$value|" "$file"
  else
    printf '%s=%s\n' "$key" "$value" >>"$file"
  fi
}

# dpkg ARGS...: dpkg, waiting (at most 120 s) while another process holds its lock (apt on a
# shared machine).
dpkg() {
  local i out rc
  for i in $(seq 1 120); do
    rc=0
    out=$(command dpkg "$@" 2>&1) || rc=$?
    if [ $rc -ne 0 ] && grep -qE 'dpkg (frontend )?lock|database is locked' <<<"$out"; then
      sleep 1
      continue
    fi
    [ -z "$out" ] || printf '%s\n' "$out"
    return $rc
  done
  printf '%s\n' "$out"
  return $rc
}

# ---------------------------------------------------------------- prerequisites

with_policy_rc() { # runs "$@" with services kept from starting by package scripts
  local created=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created=1
  fi
  "$@" || rc=$?
  [ $created = 0 ] || rm -f /usr/sbin/policy-rc.d
  return $rc
}

# cargo-deb, before anything is installed with apt: mysqlclient-sys's build script reruns when
# /usr/lib/x86_64-linux-gnu changes, so a package installed before `cargo deb` would make it
# recompile the release build that the reliability suite has just made.
ensure_cargo_deb() {
  [ "$(id -u)" = 0 ] || { echo "run as root (dpkg -i, a system user)" >&2; exit 2; }
  if [ -z "${PACKAGE_DEB:-}" ] && ! cargo deb --version >/dev/null 2>&1; then
    echo "installing cargo-deb (cargo install --locked cargo-deb)"
    local t=$SECONDS
    cargo install --locked --quiet cargo-deb
    echo "cargo-deb installed in $((SECONDS - t)) s"
  fi
}

ensure_tools() {
  local missing=()
  [ -x $PLUGINS/check_http ] || missing+=(monitoring-plugins-basic)
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
  command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    # The suite runs its own prometheus and nginx: keep the packages from starting theirs.
    with_policy_rc apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
      apt-get update -qq
      with_policy_rc apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    }
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  # nagios4 -v checks the object file; only its binary is needed, unpacked here, not installed.
  local cache=$ROOT/target/package-tools
  mkdir -p "$cache"
  if ! ls "$cache"/nagios4-core_*.deb >/dev/null 2>&1; then
    (cd "$cache" && apt-get download nagios4-core >/dev/null 2>&1) ||
      { apt-get update -qq && (cd "$cache" && apt-get download nagios4-core >/dev/null 2>&1); } || true
  fi
  NAGIOS=""
  local deb
  deb=$(ls "$cache"/nagios4-core_*.deb 2>/dev/null | tail -n 1 || true)
  if [ -n "$deb" ]; then
    dpkg-deb -x "$deb" "$WORK/nagios4" && NAGIOS=$WORK/nagios4/usr/sbin/nagios4
  fi
  mariadb_ok || {
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null 2>&1 || true
    local i
    for i in $(seq 1 120); do mariadb_ok && break; sleep 0.25; done
  }
  mariadb_ok || { echo "MariaDB does not answer on 127.0.0.1:3306" >&2; exit 1; }
}

# ---------------------------------------------------------------- 1. the package file

build_package() {
  phase "package: cargo deb"
  if [ -n "${PACKAGE_DEB:-}" ]; then
    DEB=$PACKAGE_DEB
    info "using PACKAGE_DEB=$DEB"
    return 0
  fi
  local t=$SECONDS out
  # cargo deb builds target/release/odr-operations with the features of [package.metadata.deb]
  # (mariadb); cargo rebuilds only what changed.
  out=$(cd "$ROOT" && cargo deb 2>"$WORK/cargo-deb.err") || {
    fail "cargo deb: $(tail -n 30 "$WORK/cargo-deb.err")"
    exit 1
  }
  DEB=$(tail -n 1 <<<"$out")
  [ -f "$DEB" ] || { fail "cargo deb printed no package path: $out"; exit 1; }
  BUILD_SECONDS=$((SECONDS - t))
  pass "cargo deb built $(basename "$DEB") in $BUILD_SECONDS s"
}

check_deb() {
  phase "package: contents, Depends, conffiles"
  local list depends ctrl
  # "mode owner/group path" (dpkg-deb -c shows owners as uid/gid: 0/0 is root/root)
  list=$(dpkg-deb -c "$DEB" | awk '{print $1, $2, $6}')
  local want
  for want in \
    "-rwxr-xr-x 0/0 ./usr/bin/odr-operations" \
    "-rw-r----- 0/0 ./etc/odr-operations/operations.properties" \
    "-rw-r--r-- 0/0 ./etc/odr-operations/log4rs.yaml" \
    "-rw-r----- 0/0 ./etc/cron.d/odr-operations" \
    "-rw-r--r-- 0/0 ./usr/lib/systemd/system/odr-operations.service" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/README.md" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/DEPLOYMENT.md" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/OPERATIONS.md" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/copyright" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/examples/nagios/odr-operations.cfg" \
    "-rwxr-xr-x 0/0 ./usr/share/doc/odr-operations/examples/nagios/check_odr_alarm" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/examples/prometheus/prometheus.yml" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/examples/prometheus/alerts.yml" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/examples/prometheus/alerts_test.yml" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/examples/nginx/odr-operations.conf" \
    "-rw-r--r-- 0/0 ./usr/share/doc/odr-operations/examples/nginx/odr-operations-upstream.conf"; do
    if grep -qxF -- "$want" <<<"$list"; then pass "deb has ${want##* } (${want%% *})"; else fail "deb lacks [$want]"; fi
  done
  local files
  files=$(grep -v '/$' <<<"$list" | awk '{print $3}' | sort)
  expect_eq "deb: number of files (no stray file)" "$(wc -l <<<"$files")" 16
  expect_lacks "deb: nothing under /var (the maintainer scripts make the directories)" "$files" "./var/"
  depends=$(dpkg-deb -f "$DEB" Depends)
  info "Depends: $depends"
  expect_match "deb Depends: libmariadb3 (computed from the binary)" "$depends" '(^|, )libmariadb3( |,|$)'
  expect_match "deb Depends: libc6" "$depends" '(^|, )libc6 \(>= '
  expect_match "deb Depends: adduser (postinst)" "$depends" '(^|, )adduser(,|$)'
  expect_eq "deb Package" "$(dpkg-deb -f "$DEB" Package)" "$PKG"
  expect_eq "deb Version is the crate's" "$(dpkg-deb -f "$DEB" Version)" \
    "$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)-1"
  ctrl=$WORK/control
  mkdir -p "$ctrl"
  dpkg-deb -e "$DEB" "$ctrl"
  expect_eq "deb conffiles" "$(sort "$ctrl/conffiles" | tr '\n' ' ')" \
    "/etc/cron.d/odr-operations /etc/odr-operations/log4rs.yaml /etc/odr-operations/operations.properties "
  local s
  for s in postinst postrm prerm; do
    if [ -x "$ctrl/$s" ] && sh -n "$ctrl/$s"; then pass "deb has maintainer script $s"; else fail "deb lacks an executable $s"; fi
  done
  expect_has "postinst creates the system user" "$(cat "$ctrl/postinst")" "adduser --system"
  expect_has "postinst carries cargo-deb's systemd snippet" "$(cat "$ctrl/postinst")" "deb-systemd-helper"
  # The packaged configuration is what deploy/sync-config.sh makes of the repo's.
  mkdir -p "$WORK/sync"
  if bash "$ROOT/deploy/sync-config.sh" "$WORK/sync" 2>"$WORK/sync.err"; then
    local f
    for f in operations.properties log4rs.yaml; do
      if diff -u "$ROOT/deploy/$f" "$WORK/sync/$f" >"$WORK/sync.diff"; then
        pass "deploy/$f is the repo's $f as deploy/sync-config.sh makes it"
      else
        fail "deploy/$f differs from the repo's $f (run: bash deploy/sync-config.sh): $(head -c 800 "$WORK/sync.diff")"
      fi
    done
  else
    fail "deploy/sync-config.sh: $(cat "$WORK/sync.err")"
  fi
  expect_has "deploy/operations.properties: logging.config" "$(cat "$ROOT/deploy/operations.properties")" \
    $'\nlogging.config=/etc/odr-operations/log4rs.yaml'
  expect_match "deploy/operations.properties: a commented MariaDB URL placeholder" \
    "$(cat "$ROOT/deploy/operations.properties")" '^#datasource\.odr\.url=mysql://'
  expect_eq "deploy/log4rs.yaml: every log path under /var/log/odr-operations" \
    "$(grep -cE '^ *(path|pattern): /var/log/odr-operations/' "$ROOT/deploy/log4rs.yaml")" \
    "$(grep -cE '^ *(path|pattern): logs/' "$ROOT/log4rs.yaml")"
}

# ---------------------------------------------------------------- 2. install

install_package() {
  phase "install: dpkg -i"
  if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv 'not-installed'; then
    info "$PKG is installed already (an earlier run?): purging it first"
    dpkg --purge "$PKG" >/dev/null
  fi
  if getent passwd "$PKG" >/dev/null; then
    fail "a user $PKG exists while the package is not installed: the purge test would remove it"
    exit 1
  fi
  INSTALLED_BY_SUITE=1
  expect_cmd "dpkg -i $(basename "$DEB")" dpkg -i "$DEB"
  expect_eq "dpkg status" "$(dpkg-query -W -f='${Status}' "$PKG")" "install ok installed"

  expect_mode "binary" /usr/bin/odr-operations 755 root:root
  expect_mode "conffile with secrets" "$CONF" 640 root:$PKG
  expect_mode "log configuration" /etc/$PKG/log4rs.yaml 644 root:root
  expect_mode "cron file (may hold the token)" /etc/cron.d/$PKG 640 root:root
  expect_mode "unit" "$UNIT" 644 root:root
  expect_mode "state directory" /var/lib/$PKG 750 $PKG:$PKG
  expect_mode "log directory" /var/log/$PKG 750 $PKG:$PKG
  expect_mode "plugin example" $EXAMPLES/nagios/check_odr_alarm 755 root:root
  local pw
  pw=$(getent passwd $PKG || true)
  if [ -n "$pw" ]; then
    local uid home shell
    IFS=: read -r _ _ uid _ _ home shell <<<"$pw"
    if [ "$uid" -lt 1000 ]; then pass "system user $PKG (uid $uid)"; else fail "user $PKG has uid $uid (not a system user)"; fi
    expect_eq "user $PKG: home" "$home" /var/lib/$PKG
    expect_eq "user $PKG: shell" "$shell" /usr/sbin/nologin
  else
    fail "no user $PKG"
  fi
  expect_eq "group $PKG exists and is the user's" "$(id -gn $PKG 2>/dev/null || echo none)" $PKG
  local conffiles
  conffiles=$(dpkg-query -W -f='${Conffiles}' $PKG)
  local f
  for f in "$CONF" /etc/$PKG/log4rs.yaml /etc/cron.d/$PKG; do
    local sum
    sum=$(md5sum "$f" | cut -d' ' -f1)
    expect_has "dpkg-query Conffiles: $f with its md5sum" "$conffiles" " $f $sum"
  done
  expect_lacks "dpkg-query Conffiles: none obsolete" "$conffiles" "obsolete"
  if ls /etc/systemd/system/*.wants/$PKG.service >/dev/null 2>&1; then
    fail "the unit is enabled on install (it needs its database configured first)"
  else
    pass "the unit is installed disabled"
  fi
  expect_match "the binary links the MariaDB client (feature mariadb)" "$(ldd /usr/bin/odr-operations)" 'libmariadb\.so\.3 => /'
  expect_match "odr-operations --version" "$(/usr/bin/odr-operations --version 2>&1)" "^odr-operations [0-9]"
}

check_unit() {
  phase "systemd unit"
  local out rc=0
  out=$(systemd-analyze verify "$UNIT" 2>&1) || rc=$?
  if [ $rc -eq 0 ] && [ -z "$out" ]; then pass "systemd-analyze verify $UNIT: clean"; else fail "systemd-analyze verify: exit $rc: $out"; fi
  unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
  EXEC_START=$(unit_value ExecStart)
  expect_eq "ExecStart" "$EXEC_START" "/usr/bin/odr-operations --config /etc/odr-operations/operations.properties serve"
  UNIT_USER=$(unit_value User)
  UNIT_GROUP=$(unit_value Group)
  UNIT_WD=$(unit_value WorkingDirectory)
  UNIT_UMASK=$(unit_value UMask)
  expect_eq "User= / Group=" "$UNIT_USER:$UNIT_GROUP" "$PKG:$PKG"
  expect_eq "WorkingDirectory=" "$UNIT_WD" /var/lib/$PKG
  expect_eq "UMask= (audit log 0640)" "$UNIT_UMASK" 0027
  local line
  for line in StateDirectory=$PKG LogsDirectory=$PKG Restart=on-failure NoNewPrivileges=yes ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
    ProtectKernelLogs=yes ProtectControlGroups=yes "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    CapabilityBoundingSet= SystemCallFilter=@system-service \
    "ReadWritePaths=/var/lib/$PKG /var/log/$PKG"; do
    if grep -qxF -- "$line" "$UNIT"; then pass "unit: $line"; else fail "unit lacks the line $line"; fi
  done
  local exposure
  exposure=$(systemd-analyze security --offline=true "$UNIT" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
  if [ -n "$exposure" ] && awk -v e="${exposure%% *}" 'BEGIN { exit !(e <= 2.0) }'; then
    pass "systemd-analyze security --offline: exposure $exposure"
  else
    fail "systemd-analyze security --offline: exposure [$exposure], expected at most 2.0"
  fi
}

check_cron_file() {
  phase "cron file"
  local f=/etc/cron.d/$PKG lines
  lines=$(grep -E '^#?[*0-9]' "$f" | grep -E 'curl ' || true)
  expect_eq "cron: three job lines" "$(wc -l <<<"$lines")" 3
  expect_eq "cron: all commented out by default" "$(grep -c '^#' <<<"$lines")" 3
  expect_eq "cron: no active line" "$(grep -cvE '^(#|$|[A-Z]+=)' "$f" || true)" 0
  local path
  for path in /odr-operations/odr-slettejob/deceased/start /odr-operations/odr-slettejob/emigrated/start \
    /odr-operations/odr-send-digitalpost-notifikation/start; do
    local l
    l=$(grep -F "$path" <<<"$lines" || true)
    expect_match "cron: every minute, as $PKG, curl -fsS --max-time <n>, the Bearer header: $path" "$l" \
      "^#\* \* \* \* \* $PKG .*curl -fsS --max-time [0-9]+ .*-H 'Authorization: Bearer [^']+' http://[^ ]+$path\$"
  done
}

# ---------------------------------------------------------------- 3. run it

start_simulator() {
  phase "fake services and database"
  mkdir -p "$WORK/sim"
  DB_CREATED=1
  (cd "$WORK/sim" && exec /usr/bin/odr-operations simulate --citizens 2000 --seed 17 --recent-dates 2 --per-date 5 \
    --seed-db "$MYSQL_SERVER/$DB" --ready-file "$WORK/sim/ready" >"$WORK/sim/log" 2>&1) &
  SIM_PID=$!
  remember "$SIM_PID" "odr-operations simulate"
  local i
  for i in $(seq 1 600); do
    [ -f "$WORK/sim/ready" ] && break
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -f "$WORK/sim/ready" ]; then fail "simulate not ready: $(tail -n 20 "$WORK/sim/log")"; exit 1; fi
  # shellcheck disable=SC1091
  . "$WORK/sim/ready"
  pass "simulate: fakes up (PI $SIM_PI_URL), database $DB seeded ($(q 'select count(*) from v2_person_simplified') people)"
}

configure_node1() {
  NODE_PORT[1]=$(free_port)
  # The installed conffile itself, as an operator edits it (the purge test checks dpkg removes it).
  setprop "$CONF" server.bind "127.0.0.1:${NODE_PORT[1]}"
  setprop "$CONF" datasource.odr.url "$MYSQL_SERVER/$DB"
  setprop "$CONF" personinformation.url "$SIM_PI_URL"
  setprop "$CONF" digitalpost.service.url "$SIM_DP_URL"
  setprop "$CONF" digitalpost.notification.odr.startdate "$SIM_STARTDATE"
  setprop "$CONF" operations.start.token "$TOKEN"
  setprop "$CONF" personinformation.defaultConnectionTimeoutMs 1500
  setprop "$CONF" digitalpost.default.connection.timeout.ms 1500
  setprop "$CONF" deletion.desired.execution.duration.deceased PT1S
  setprop "$CONF" deletion.desired.execution.duration.emigrated PT1S
  setprop "$CONF" digitalpost.notification.odr.send.desired.execution.duration PT1S
  # A short error window, so that the PersonInformation tolerance alarm clears within the test
  # (long enough for the checks of the failed state on a loaded machine).
  setprop "$CONF" personinformation.errorcount.duration PT10S
  expect_mode "edited conffile keeps its mode" "$CONF" 640 root:$PKG
}

# A properties file for another node: the installed one with another port (and more changes).
node_config() { # n [key=value ...]
  local n=$1 dir=$WORK/node$1 kv
  shift
  mkdir -p "$dir/logs"
  chown "$PKG:$PKG" "$dir" "$dir/logs"
  chmod 0750 "$dir"
  cp "$CONF" "$dir/operations.properties"
  chown "root:$PKG" "$dir/operations.properties"
  chmod 0640 "$dir/operations.properties"
  sed "s#/var/log/odr-operations/#$dir/logs/#" /etc/$PKG/log4rs.yaml >"$dir/log4rs.yaml"
  setprop "$dir/operations.properties" server.bind "127.0.0.1:${NODE_PORT[$n]}"
  setprop "$dir/operations.properties" logging.config "$dir/log4rs.yaml"
  for kv in "$@"; do setprop "$dir/operations.properties" "${kv%%=*}" "${kv#*=}"; done
}

# start_node N CONFIG WORKDIR: the unit's ExecStart (with CONFIG for --config), as the unit's
# user and group, in the unit's working directory, with its umask, no new privileges, no
# capabilities, and the small environment systemd gives a service.
start_node() {
  local n=$1 config=$2 wd=$3 cmd
  read -ra cmd <<<"$EXEC_START"
  local i
  for i in "${!cmd[@]}"; do [ "${cmd[$i]}" = /etc/odr-operations/operations.properties ] && cmd[i]=$config; done
  (
    cd "$wd"
    umask "$UNIT_UMASK"
    exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      HOME=/var/lib/$PKG USER="$UNIT_USER" LOGNAME="$UNIT_USER" \
      setpriv --reuid="$UNIT_USER" --regid="$UNIT_GROUP" --init-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all -- "${cmd[@]}"
  ) >>"$WORK/node$n.console" 2>&1 &
  NODE_PID[$n]=$!
  remember "${NODE_PID[$n]}" "${cmd[*]}"
  NODE_CMD[$n]="${cmd[*]}"
}

wait_answer() { # n [expected code]: until the node answers its status page (with any code by default)
  local n=$1 want=${2:-} i code
  for i in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${NODE_PORT[$n]}$SLET_STATUS" || true)
    if [ "$code" != 000 ] && { [ -z "$want" ] || [ "$code" = "$want" ]; }; then return 0; fi
    kill -0 "${NODE_PID[$n]}" 2>/dev/null || { echo "node $n exited: $(tail -n 20 "$WORK/node$n.console")"; return 1; }
    sleep 0.1
  done
  echo "node $n does not answer after 30 s: $(tail -n 20 "$WORK/node$n.console")"
  return 1
}

start_nodes() {
  phase "the installed service, started as its unit says"
  configure_node1
  start_node 1 "$CONF" "$UNIT_WD"
  local msg
  if msg=$(wait_answer 1 200); then pass "node 1 (ExecStart as $UNIT_USER in $UNIT_WD) answers on port ${NODE_PORT[1]}"; else fail "node 1: $msg"; exit 1; fi
  local status
  status=$(tr '\0' '\n' <"/proc/${NODE_PID[1]}/status" 2>/dev/null | grep -E '^(Uid|Gid|NoNewPrivs|CapBnd|CapEff):' | tr -s '\t' ' ' || true)
  local uid gid
  uid=$(id -u $PKG)
  gid=$(id -g $PKG)
  expect_has "node 1 runs as $PKG" "$status" "Uid: $uid $uid $uid $uid"
  expect_has "node 1 runs with group $PKG" "$status" "Gid: $gid $gid $gid $gid"
  expect_has "node 1: NoNewPrivs" "$status" "NoNewPrivs: 1"
  expect_has "node 1: no capabilities (CapabilityBoundingSet=)" "$status" "CapBnd: 0000000000000000"
  expect_eq "node 1: working directory" "$(readlink "/proc/${NODE_PID[1]}/cwd")" "$UNIT_WD"
  NODE_PORT[2]=$(free_port)
  node_config 2
  start_node 2 "$WORK/node2/operations.properties" "$WORK/node2"
  if msg=$(wait_answer 2 200); then pass "node 2 (same database, port ${NODE_PORT[2]}) answers"; else fail "node 2: $msg"; exit 1; fi
  expect_eq "migrations applied on start (JobRun exists)" "$(q "select count(*) from information_schema.tables where table_schema = database() and table_name = 'JobRun'")" 1
}

node() { echo "http://127.0.0.1:${NODE_PORT[$1]}"; }

check_pages() {
  phase "pages (state: OK)"
  get "$(node 1)$SLET_STATUS"
  expect_eq "slettejob status code" "$CODE" 200
  expect_has "slettejob status: Database : OK" "$BODY" "Database : OK"
  expect_has "slettejob status: Build-Version" "$BODY" "Build-Version: $(dpkg-query -W -f='${Version}' $PKG | sed 's/-[^-]*$//')"
  expect_match "every answer has X-Request-ID" "$HEADERS" '^[Xx]-[Rr]equest-[Ii][Dd]: .+'
  get "$(node 1)$NOTI_STATUS"
  expect_eq "notification status code" "$CODE" 200
  expect_has "notification status: Database OK" "$BODY" '"Database":"OK"'
  get "$(node 1)$SLET_ALARM"
  expect_eq "slettejob alarm: 200, empty ($BODY)" "$CODE" 200
  get "$(node 1)$NOTI_ALARM"
  expect_eq "notification alarm: 200, empty ($BODY)" "$CODE" 200
  get "$(node 1)$DECEASED_START"
  expect_eq "a start URL without the token: 401, nothing run" "$CODE" 401
  get "$(node 1)$METRICS"
  expect_eq "metrics page" "$CODE" 200
  expect_has "the service logs to /var/log/$PKG" "$(cat /var/log/$PKG/odr-operations.log 2>/dev/null)" "configuration: $CONF"
  expect_mode "application log" /var/log/$PKG/odr-operations.log 640 $PKG:$PKG
}

# ---------------------------------------------------------------- Nagios

# The command lines of the shipped object file, macros filled in for node N ($USER1$ is a
# directory holding the real check_http and the shipped check_odr_alarm).
nagios_setup() {
  mkdir -p "$WORK/plugins"
  ln -sf $PLUGINS/check_http "$WORK/plugins/check_http"
  ln -sf $EXAMPLES/nagios/check_odr_alarm "$WORK/plugins/check_odr_alarm"
  local cfg=$EXAMPLES/nagios/odr-operations.cfg
  declare -gA NAGIOS_CMD=()
  local name line
  while read -r name line; do
    NAGIOS_CMD[$name]=$line
  done < <(awk '/command_name/ { n = $2 } /command_line/ { sub(/^[ \t]*command_line[ \t]+/, ""); print n, $0 }' "$cfg")
  expect_eq "nagios: four commands in the object file" "${#NAGIOS_CMD[@]}" 4
  # The object file is valid for Nagios 4 (with the objects a real installation has around it).
  if [ -z "$NAGIOS" ]; then fail "nagios4 not available (apt-get download nagios4-core failed)"; return 0; fi
  local d=$WORK/nagios
  mkdir -p "$d"
  cat >"$d/fixture.cfg" <<'EOF'
define timeperiod {
  timeperiod_name 24x7
  alias 24x7
  sunday 00:00-24:00
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
}
define command {
  command_name notify-none
  command_line /bin/true
}
define contact {
  contact_name ops
  service_notification_period 24x7
  host_notification_period 24x7
  service_notification_options n
  host_notification_options n
  service_notification_commands notify-none
  host_notification_commands notify-none
}
define service {
  name generic-service
  register 0
  max_check_attempts 3
  check_interval 1
  retry_interval 1
  check_period 24x7
  notification_period 24x7
  notification_interval 0
  contacts ops
}
define host {
  host_name odr-node1
  address 127.0.0.1
  hostgroups odr-operations
  max_check_attempts 3
  check_period 24x7
  contacts ops
  notification_period 24x7
}
EOF
  cat >"$d/nagios.cfg" <<EOF
cfg_file=$d/fixture.cfg
cfg_file=$cfg
check_result_path=$d
log_file=$d/nagios.log
nagios_user=root
nagios_group=root
EOF
  local out rc=0
  out=$("$NAGIOS" -v "$d/nagios.cfg" 2>&1) || rc=$?
  if [ $rc -eq 0 ] && grep -q 'Total Errors: *0' <<<"$out" && grep -q 'Checked 4 services' <<<"$out"; then
    pass "nagios4 -v: the object file is valid (4 services, 4 commands, 0 errors)"
  else
    fail "nagios4 -v: exit $rc: $(grep -E 'Error|Warning' <<<"$out" | head -5)"
  fi
}

# nagios_run NAME PORT: runs the command's line as Nagios would (sh -c), sets NRC and NOUT.
nagios_run() {
  local line=${NAGIOS_CMD[$1]}
  line=${line//\$USER1\$/$WORK/plugins}
  line=${line//\$HOSTADDRESS\$/127.0.0.1}
  line=${line//\$ARG1\$/$2}
  NRC=0
  NOUT=$(sh -c "$line" 2>&1) || NRC=$?
}
expect_nagios() { # state NAME PORT CODE TEXT...
  local state=$1 name=$2 port=$3 want=$4
  shift 4
  nagios_run "$name" "$port"
  local ok=1 t
  [ "$NRC" = "$want" ] || ok=0
  for t in "$@"; do grep -qF -- "$t" <<<"$NOUT" || ok=0; done
  if [ $ok = 1 ]; then
    pass "nagios $state: $name exit $NRC: $(head -n 1 <<<"$NOUT" | cut -c1-110)"
  else
    fail "nagios $state: $name: exit $NRC (expected $want), output [$NOUT], expected to contain [$*]"
  fi
}

nagios_ok() {
  phase "Nagios: state OK"
  nagios_setup
  expect_nagios OK check_odr_slettejob_status "${NODE_PORT[1]}" 0 "HTTP OK"
  expect_nagios OK check_odr_notifikation_status "${NODE_PORT[1]}" 0 "HTTP OK"
  expect_nagios OK check_odr_slettejob_alarm "${NODE_PORT[1]}" 0 "ODR ALARM OK"
  expect_nagios OK check_odr_notifikation_alarm "${NODE_PORT[1]}" 0 "ODR ALARM OK"
}

# ---------------------------------------------------------------- metrics

metric_lines() { curl -s --max-time 10 "$(node "$1")$METRICS"; }

check_metrics() { # state
  local state=$1 text
  text=$(metric_lines 1)
  printf '%s\n' "$text" >"$WORK/metrics.$state.txt"
  local out rc=0 problems
  out=$(promtool check metrics <"$WORK/metrics.$state.txt" 2>&1) || rc=$?
  # Exit 3 is lint problems only (1: the text does not parse). The lag gauges' names end in
  # _days by decision (the alarm period is whole days); promtool prefers base units (seconds):
  # that one lint is waived, by name, and shown; any other problem fails.
  problems=$(grep -vxE 'odr_notification_lag(_limit)?_days use base unit "seconds" instead of "days"' <<<"$out" | grep -v '^$' || true)
  if [ $rc -eq 0 ] || { [ $rc -eq 3 ] && [ -z "$problems" ]; }; then
    pass "promtool check metrics on the real $METRICS ($state, $(grep -vc '^#' <<<"$text") samples)"
    [ $rc -eq 0 ] || info "promtool check metrics: waived lint: $(tr '\n' ';' <<<"$out")"
  else
    fail "promtool check metrics ($state): exit $rc: $out"
  fi
  local g
  for g in "${NEW_GAUGES[@]}"; do
    if grep -q "^${g}[{ ]" <<<"$text"; then
      GAUGE[$g]=1
    elif [ "$g" = odr_job_stale_limit_seconds ] && grep -q "^# TYPE $g gauge" <<<"$text"; then
      GAUGE[$g]=1 # present, every job's limit turned off
    else
      GAUGE[$g]=0
    fi
  done
}

gauge_value() { # text name labels -> value or empty
  grep -F "$2{$3}" <<<"$1" | head -n 1 | awk '{print $2}'
}

check_gauges_ok() {
  phase "metrics: the gauges (state: OK)"
  check_metrics ok
  local text g job
  text=$(cat "$WORK/metrics.ok.txt")
  for g in "${NEW_GAUGES[@]}"; do
    if [ "${GAUGE[$g]}" = 1 ]; then pass "metrics: $g present"; else skip "metrics: gauge $g absent from $METRICS (not on this branch yet): its checks are skipped"; fi
  done
  if [ "${GAUGE[odr_job_last_run_failed]}" = 1 ]; then
    for job in "${JOBS[@]}"; do
      expect_eq "metrics OK: odr_job_last_run_failed{job=$job}" "$(gauge_value "$text" odr_job_last_run_failed "job=\"$job\"")" 0
    done
  fi
  if [ "${GAUGE[odr_job_stale_limit_seconds]}" = 1 ]; then
    for job in "${JOBS[@]}"; do
      expect_eq "metrics OK: odr_job_stale_limit_seconds{job=$job} (the packaged default P2D)" \
        "$(gauge_value "$text" odr_job_stale_limit_seconds "job=\"$job\"")" 172800
    done
  fi
  if [ "${GAUGE[odr_job_seconds_since_last_work]}" = 1 ]; then
    for job in "${JOBS[@]}"; do
      expect_match "metrics OK: odr_job_seconds_since_last_work{job=$job} is a number" \
        "$(gauge_value "$text" odr_job_seconds_since_last_work "job=\"$job\"")" '^[0-9.e+]+$'
    done
  fi
  local s
  for s in PersonInformation DigitalPost; do
    if [ "${GAUGE[odr_external_error_tolerance]}" = 1 ]; then
      expect_eq "metrics OK: odr_external_error_tolerance{service=$s}" "$(gauge_value "$text" odr_external_error_tolerance "service=\"$s\"")" 0
    fi
    if [ "${GAUGE[odr_external_errors_in_window]}" = 1 ]; then
      expect_eq "metrics OK: odr_external_errors_in_window{service=$s}" "$(gauge_value "$text" odr_external_errors_in_window "service=\"$s\"")" 0
    fi
  done
  if [ "${GAUGE[odr_notification_lag_limit_seconds]}" = 1 ]; then
    expect_eq "metrics OK: odr_notification_lag_limit_seconds (P3D)" "$(grep '^odr_notification_lag_limit_seconds ' <<<"$text" | awk '{print $2}')" 259200
  fi
  if [ "${GAUGE[odr_notification_lag_seconds]}" = 1 ] && [ "${GAUGE[odr_notification_lag_limit_seconds]}" = 1 ]; then
    local lag
    lag=$(grep '^odr_notification_lag_seconds ' <<<"$text" | awk '{print $2}')
    if awk -v l="$lag" 'BEGIN { exit !(l <= 259200) }'; then pass "metrics OK: odr_notification_lag_seconds $lag within the limit"; else fail "metrics OK: odr_notification_lag_seconds $lag > 259200 while the alarm page is 200"; fi
  fi
}

# ---------------------------------------------------------------- failed last slice

state_failed() {
  phase "state: a failed last slice (PersonInformation answers 500)"
  expect_match "simulate: PersonInformation answers 500 from now on" "$(curl -s --max-time 10 -X POST "$SIM_CONTROL/pi/fault/500")" '500' 
  get "$(node 1)$DECEASED_START" -H "$(auth)"
  expect_eq "deceased start with the token: 200" "$CODE" 200
  expect_has "deceased start answers Failed:" "$BODY" "OrganDonorDeceasedCleanup: Failed: "
  get "$(node 1)$SLET_ALARM"
  expect_eq "slettejob alarm: 500" "$CODE" 500
  expect_has "slettejob alarm: the failed-slice line" "$BODY" "$FAILED_LINE"
  expect_nagios FAILED check_odr_slettejob_alarm "${NODE_PORT[1]}" 2 "ODR ALARM CRITICAL" "$FAILED_LINE" "$PI_TOLERANCE_LINE"
  expect_nagios FAILED check_odr_notifikation_alarm "${NODE_PORT[1]}" 2 "ODR ALARM CRITICAL" "$PI_TOLERANCE_LINE"
  expect_nagios FAILED check_odr_slettejob_status "${NODE_PORT[1]}" 0 "HTTP OK"
  expect_nagios FAILED check_odr_notifikation_status "${NODE_PORT[1]}" 0 "HTTP OK"
  # The alarm as Nagios sees it on the other node too: both answer from the database.
  expect_nagios FAILED "check_odr_slettejob_alarm" "${NODE_PORT[2]}" 2 "$FAILED_LINE"
  check_metrics failed
  local text
  text=$(cat "$WORK/metrics.failed.txt")
  if [ "${GAUGE[odr_job_last_run_failed]}" = 1 ]; then
    expect_eq "metrics FAILED: odr_job_last_run_failed{job=OrganDonorDeceasedCleanup}" \
      "$(gauge_value "$text" odr_job_last_run_failed 'job="OrganDonorDeceasedCleanup"')" 1
    expect_eq "metrics FAILED: odr_job_last_run_failed{job=OrganDonorNotification}" \
      "$(gauge_value "$text" odr_job_last_run_failed 'job="OrganDonorNotification"')" 0
  else
    skip "metrics FAILED: odr_job_last_run_failed absent: not checked"
  fi
  if [ "${GAUGE[odr_external_errors_in_window]}" = 1 ]; then
    local n
    n=$(gauge_value "$text" odr_external_errors_in_window 'service="PersonInformation"')
    if awk -v n="$n" 'BEGIN { exit !(n >= 1) }'; then pass "metrics FAILED: odr_external_errors_in_window{service=PersonInformation} $n > tolerance 0"; else fail "metrics FAILED: odr_external_errors_in_window{service=PersonInformation} = [$n]"; fi
  else
    skip "metrics FAILED: odr_external_errors_in_window absent: not checked"
  fi
  expect_match "metrics FAILED: odr_external_errors_total{service=PersonInformation} counted" "$text" \
    '^odr_external_errors_total\{service="PersonInformation"\} [1-9]'
  expect_match "metrics FAILED: odr_slices_total{outcome=Failed}" "$text" \
    '^odr_slices_total\{job="OrganDonorDeceasedCleanup",outcome="Failed"\} 1$'

  phase "state: recovered (PersonInformation answers again)"
  curl -s --max-time 10 -X POST "$SIM_CONTROL/pi/fault/none" >/dev/null
  get "$(node 1)$DECEASED_START" -H "$(auth)"
  expect_match "deceased start after recovery: Paused or Finished" "$BODY" 'OrganDonorDeceasedCleanup: (Paused|Finished) after '
  # personinformation.errorcount.duration=PT10S: wait until the error has left the window.
  local i
  for i in $(seq 1 30); do
    get "$(node 1)$SLET_ALARM"
    [ "$CODE" = 200 ] && break
    sleep 0.5
  done
  expect_nagios RECOVERED check_odr_slettejob_alarm "${NODE_PORT[1]}" 0 "ODR ALARM OK"
  expect_nagios RECOVERED check_odr_notifikation_alarm "${NODE_PORT[1]}" 0 "ODR ALARM OK"
  if [ "${GAUGE[odr_job_last_run_failed]}" = 1 ]; then
    expect_eq "metrics RECOVERED: odr_job_last_run_failed{job=OrganDonorDeceasedCleanup}" \
      "$(gauge_value "$(metric_lines 1)" odr_job_last_run_failed 'job="OrganDonorDeceasedCleanup"')" 0
  fi
  local f
  f=/var/log/$PKG/audit.log
  if [ -e $f ]; then
    expect_mode "audit log (CPR numbers)" $f 640 $PKG:$PKG
  else
    fail "no audit log $f after a cleanup slice"
  fi
  expect_eq "no file in /var/log/$PKG readable by others" "$(find /var/log/$PKG -type f -perm /o+r | wc -l)" 0
}

# ---------------------------------------------------------------- cron

check_cron_lines() {
  phase "cron: the file's lines, uncommented, run as cron runs them"
  local f=/etc/cron.d/$PKG lines before after line cmd n=0 rc
  lines=$(grep -E '^#[*0-9].*curl ' "$f")
  before=$(q "select count(*) from JobRun")
  while IFS= read -r line; do
    # "#m h dom mon dow user command": cron runs the command with /bin/sh as the user.
    cmd=$(sed -E 's/^#([^ ]+ +){5}[^ ]+ +//' <<<"$line")
    cmd=${cmd//http:\/\/127.0.0.1:8080/$(node 2)}
    cmd=${cmd//CHANGE-ME/$TOKEN}
    rc=0
    runuser -u "$(awk '{print $6}' <<<"$line")" -- env -i SHELL=/bin/sh PATH=/usr/bin:/bin /bin/sh -c "$cmd" >"$WORK/cron.out" 2>&1 || rc=$?
    n=$((n + 1))
    if [ $rc -eq 0 ] && [ ! -s "$WORK/cron.out" ]; then pass "cron line $n: exit 0, silent (nothing for cron to mail)"; else fail "cron line $n: exit $rc: $(cat "$WORK/cron.out")"; fi
  done <<<"$lines"
  after=$(q "select count(*) from JobRun")
  expect_eq "cron: each line ran one slice (JobRun rows)" "$((after - before))" 3
  cmd=$(sed -E 's/^#([^ ]+ +){5}[^ ]+ +//' <<<"$(head -n 1 <<<"$lines")")
  cmd=${cmd//http:\/\/127.0.0.1:8080/$(node 2)}
  rc=0
  runuser -u $PKG -- env -i PATH=/usr/bin:/bin /bin/sh -c "$cmd" >"$WORK/cron.out" 2>&1 || rc=$?
  if [ $rc -ne 0 ] && grep -q '401' "$WORK/cron.out"; then pass "cron line with a wrong token: exit $rc and a line for cron to mail"; else fail "cron line with a wrong token: exit $rc: $(cat "$WORK/cron.out")"; fi
}

# ---------------------------------------------------------------- Prometheus

check_prometheus_files() {
  phase "Prometheus: promtool"
  local d=$EXAMPLES/prometheus
  expect_cmd "promtool check config (shipped prometheus.yml with alerts.yml)" promtool check config "$d/prometheus.yml"
  expect_cmd "promtool check rules alerts.yml" promtool check rules "$d/alerts.yml"
  expect_cmd "promtool test rules alerts_test.yml" sh -c "cd '$d' && promtool test rules alerts_test.yml"
  local r
  for r in OdrJobFailed OdrJobNotRun OdrExternalErrorToleranceExceeded OdrNotificationLag; do
    expect_has "alerts.yml: $r" "$(cat "$d/alerts.yml")" "alert: $r"
    expect_has "alerts_test.yml tests $r" "$(cat "$d/alerts_test.yml")" "alertname: $r"
  done
  local g
  for g in "${NEW_GAUGES[@]}"; do
    case $g in odr_job_stale_limit_seconds | odr_job_seconds_since_last_work | odr_job_last_run_failed | odr_external_errors_in_window | odr_external_error_tolerance | odr_notification_lag_seconds | odr_notification_lag_limit_seconds)
      expect_has "alerts.yml uses $g" "$(cat "$d/alerts.yml")" "$g" ;;
    esac
  done
}

prom_query() { # expr -> the API's JSON
  curl -s --max-time 10 --data-urlencode "query=$1" "http://127.0.0.1:$PROM_PORT/api/v1/query"
}

check_prometheus_server() {
  phase "Prometheus: a real server scraping two nodes"
  PROM_PORT=$(free_port)
  local d=$WORK/prometheus
  mkdir -p "$d/data"
  # The shipped configuration with the two test nodes, a short interval and the shipped rules.
  sed -e "s#^\(  *\)- odr-node1.example.org:8080#\1- 127.0.0.1:${NODE_PORT[1]}#" \
    -e "s#^\(  *\)- odr-node2.example.org:8080#\1- 127.0.0.1:${NODE_PORT[2]}#" \
    -e 's#scrape_interval: 30s#scrape_interval: 1s#' -e 's#evaluation_interval: 30s#evaluation_interval: 1s#' \
    -e 's#scrape_timeout: 10s#scrape_timeout: 1s#' \
    -e "s#^  - alerts.yml#  - $EXAMPLES/prometheus/alerts.yml#" "$EXAMPLES/prometheus/prometheus.yml" >"$d/prometheus.yml"
  expect_eq "test config: the shipped one with both nodes" "$(grep -c "127.0.0.1:${NODE_PORT[1]}\|127.0.0.1:${NODE_PORT[2]}" "$d/prometheus.yml")" 2
  expect_cmd "promtool check config (test copy)" promtool check config "$d/prometheus.yml"
  prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$d/log" 2>&1 &
  local pid=$!
  remember "$pid" "prometheus --config.file=$d/prometheus.yml"
  local i ready=0
  for i in $(seq 1 150); do
    if curl -sf --max-time 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ $ready = 1 ]; then pass "prometheus ready on 127.0.0.1:$PROM_PORT"; else fail "prometheus not ready: $(tail -n 10 "$d/log")"; return 0; fi
  local up=""
  for i in $(seq 1 60); do
    up=$(prom_query 'up{job="odr-operations"}' | jq -r '[.data.result[] | select(.value[1] == "1") | .metric.instance] | sort | join(" ")')
    [ "$up" = "$(printf '%s\n' "127.0.0.1:${NODE_PORT[1]}" "127.0.0.1:${NODE_PORT[2]}" | sort | tr '\n' ' ' | sed 's/ $//')" ] && break
    sleep 0.5
  done
  expect_eq "prometheus API: up == 1 for both nodes" "$up" "$(printf '%s\n' "127.0.0.1:${NODE_PORT[1]}" "127.0.0.1:${NODE_PORT[2]}" | sort | tr '\n' ' ' | sed 's/ $//')"
  # The service's own job label is kept (honor_labels: true), which alerts.yml relies on.
  local before after
  before=$(prom_query 'sum(odr_slices_total{job="OrganDonorDeceasedCleanup"}) or vector(0)' | jq -r '.data.result[0].value[1]')
  get "$(node 2)$DECEASED_START" -H "$(auth)"
  expect_match "deceased start on node 2: a slice ran" "$BODY" 'OrganDonorDeceasedCleanup: (Paused|Finished) after '
  after=$before
  for i in $(seq 1 40); do
    after=$(prom_query 'sum(odr_slices_total{job="OrganDonorDeceasedCleanup"}) or vector(0)' | jq -r '.data.result[0].value[1]')
    awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }' && break
    sleep 0.25
  done
  if awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }'; then
    pass "prometheus API: sum(odr_slices_total{job=\"OrganDonorDeceasedCleanup\"}) moved $before -> $after after a start call"
  else
    fail "prometheus API: odr_slices_total did not move ($before -> $after)"
  fi
  expect_eq "prometheus API: the scrape job's label on series without a job label" \
    "$(prom_query 'count(odr_http_request_duration_seconds_count{job="odr-operations"}) > 0' | jq -r '.data.result | length')" 1
  local rules
  for i in $(seq 1 20); do
    rules=$(curl -s --max-time 10 "http://127.0.0.1:$PROM_PORT/api/v1/rules" |
      jq -r '[.data.groups[].rules[] | select(.health == "ok")] | length')
    [ "$rules" = "$(grep -c '^ *- alert:' "$EXAMPLES/prometheus/alerts.yml")" ] && break
    sleep 0.5
  done
  expect_eq "prometheus API: every alert rule loaded and evaluated (health ok)" "$rules" "$(grep -c '^ *- alert:' "$EXAMPLES/prometheus/alerts.yml")"
  if [ "${GAUGE[odr_job_last_run_failed]}" = 1 ]; then
    expect_eq "prometheus API: max by (job) (odr_job_last_run_failed) has the three jobs" \
      "$(prom_query 'max by (job) (odr_job_last_run_failed)' | jq -r '[.data.result[].metric.job] | sort | join(" ")')" \
      "OrganDonorDeceasedCleanup OrganDonorEmigratedCleanup OrganDonorNotification"
  else
    skip "prometheus API: odr_job_last_run_failed absent: the job series not checked"
  fi
  stop_pid "$pid" "prometheus --config.file=$d/prometheus.yml"
}

# ---------------------------------------------------------------- nginx

check_nginx() {
  phase "nginx: the shipped snippets in front of both nodes"
  local d=$WORK/nginx port
  port=$(free_port)
  mkdir -p "$d/tmp" "$d/logs"
  sed -e "0,/^\( *\)server [^ ]*:8080 /s##\1server 127.0.0.1:${NODE_PORT[1]} #" "$EXAMPLES/nginx/odr-operations-upstream.conf" |
    sed -e "0,/^\( *\)server [^ ]*:8080 /s##\1server 127.0.0.1:${NODE_PORT[2]} #" >"$d/upstream.conf"
  expect_eq "nginx: the shipped upstream with the test nodes" "$(grep -c '^ *server 127.0.0.1:' "$d/upstream.conf")" 2
  cat >"$d/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections 64; }
http {
  log_format up '\$request_uri \$status \$upstream_addr';
  access_log $d/logs/access.log up;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
  include $d/upstream.conf;
  server {
    listen 127.0.0.1:$port;
    include $EXAMPLES/nginx/odr-operations.conf;
  }
}
EOF
  expect_cmd "nginx -t with the snippets" "$NGINX" -t -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log"
  "$NGINX" -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" &
  local pid=$!
  remember "$pid" "$NGINX -p $d"
  local i
  for i in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  for i in 1 2 3 4; do get "http://127.0.0.1:$port$SLET_STATUS"; done
  expect_eq "nginx: status page through the load balancer" "$CODE" 200
  get "http://127.0.0.1:$port$DECEASED_START" -H "$(auth)"
  expect_match "nginx: a start URL through the load balancer" "$BODY" 'OrganDonorDeceasedCleanup: (Paused|Finished) after |kører allerede'
  local ups
  ups=$(awk '{print $3}' "$d/logs/access.log" | sort -u | tr '\n' ' ')
  expect_eq "nginx: round-robin over both nodes" "$ups" "$(printf '%s\n' "127.0.0.1:${NODE_PORT[1]}" "127.0.0.1:${NODE_PORT[2]}" | sort | tr '\n' ' ')"
  stop_pid "$pid" "$NGINX -p $d"
}

# ---------------------------------------------------------------- database down, node down

state_db_down() {
  phase "state: the database down (node 3: datasource at a closed port)"
  NODE_PORT[3]=$(free_port)
  local closed
  closed=$(free_port)
  node_config 3 "datasource.odr.url=mysql://root@127.0.0.1:$closed/$DB" datasource.odr.migrate=false
  start_node 3 "$WORK/node3/operations.properties" "$WORK/node3"
  local msg
  if msg=$(wait_answer 3); then pass "node 3 answers without its database"; else fail "node 3: $msg"; return 0; fi
  get "$(node 3)$SLET_STATUS"
  expect_eq "DB down: slettejob status 500" "$CODE" 500
  expect_has "DB down: Database : Unavailable" "$BODY" "Database : Unavailable"
  expect_nagios "DB DOWN" check_odr_slettejob_status "${NODE_PORT[3]}" 2 "HTTP CRITICAL" "500"
  expect_nagios "DB DOWN" check_odr_notifikation_status "${NODE_PORT[3]}" 2 "HTTP CRITICAL" "500"
  expect_nagios "DB DOWN" check_odr_slettejob_alarm "${NODE_PORT[3]}" 2 "ODR ALARM CRITICAL" "$DB_LINE"
  expect_nagios "DB DOWN" check_odr_notifikation_alarm "${NODE_PORT[3]}" 2 "ODR ALARM CRITICAL" "$DB_LINE"
  get "$(node 3)$DECEASED_START" -H "$(auth)"
  expect_eq "DB down: a start URL still answers 200" "$CODE" 200
  expect_has "DB down: ... with Failed:" "$BODY" "Failed: "
  # Not asserted (the gauges are the service's): does /metrics answer within the shipped
  # scrape_timeout (10 s) while the database is down, or does Prometheus see the node as down?
  local t0=$EPOCHREALTIME
  CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 11 "$(node 3)$METRICS" || true)
  info "metrics page with the database down: HTTP $CODE after $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s (000: no answer within 11 s; the shipped scrape_timeout is 10 s)"
  stop_pid "${NODE_PID[3]}" "${NODE_CMD[3]}"

  phase "state: a node down (nothing listens)"
  expect_nagios "NODE DOWN" check_odr_slettejob_status "${NODE_PORT[3]}" 2 "HTTP CRITICAL"
  expect_nagios "NODE DOWN" check_odr_slettejob_alarm "${NODE_PORT[3]}" 2 "ODR ALARM CRITICAL - no answer"
}

# ---------------------------------------------------------------- stop, remove, purge

stop_nodes() {
  phase "stop the nodes (SIGTERM, as systemctl stop sends)"
  local n
  for n in 2 1; do
    local t=$SECONDS
    stop_pid "${NODE_PID[$n]}" "${NODE_CMD[$n]}" 90
    if [ "$STOP_RC" = killed ]; then
      fail "node $n did not stop within TimeoutStopSec (90 s) of SIGTERM"
    else
      # Exit 0: a clean stop for systemd (Restart=on-failure does not restart it).
      expect_eq "node $n stopped $((SECONDS - t)) s after SIGTERM, exit status" "$STOP_RC" 0
    fi
  done
  stop_pid "$SIM_PID" "odr-operations simulate"
}

reinstall() {
  phase "dpkg -i again (the upgrade path of the maintainer scripts)"
  local sum uid
  sum=$(md5sum "$CONF" | cut -d' ' -f1)
  uid=$(id -u $PKG)
  expect_cmd "dpkg -i over the installed package" dpkg -i "$DEB"
  expect_eq "dpkg status" "$(dpkg-query -W -f='${Status}' "$PKG")" "install ok installed"
  expect_eq "the edited conffile is kept" "$(md5sum "$CONF" | cut -d' ' -f1)" "$sum"
  expect_mode "conffile with secrets after reinstall" "$CONF" 640 root:$PKG
  expect_eq "the system user is kept (same uid)" "$(id -u $PKG)" "$uid"
  expect_mode "log directory after reinstall" /var/log/$PKG 750 $PKG:$PKG
}

remove_and_purge() {
  phase "dpkg -r: the conffiles stay"
  local modified_sum
  modified_sum=$(md5sum "$CONF" | cut -d' ' -f1)
  expect_cmd "dpkg -r $PKG" dpkg -r $PKG
  expect_eq "dpkg status after remove" "$(dpkg-query -W -f='${Status}' $PKG)" "deinstall ok config-files"
  local f
  for f in /usr/bin/odr-operations "$UNIT" /usr/share/doc/$PKG; do
    if [ -e "$f" ]; then fail "remove left $f"; else pass "remove took $f"; fi
  done
  for f in "$CONF" /etc/$PKG/log4rs.yaml /etc/cron.d/$PKG; do
    if [ -f "$f" ]; then pass "remove kept the conffile $f"; else fail "remove deleted the conffile $f"; fi
  done
  expect_eq "the modified conffile is kept as modified" "$(md5sum "$CONF" | cut -d' ' -f1)" "$modified_sum"
  expect_eq "remove kept the user" "$(getent passwd $PKG >/dev/null && echo yes || echo no)" yes
  expect_eq "remove kept the logs" "$( [ -f /var/log/$PKG/odr-operations.log ] && echo yes || echo no)" yes
  # Debian policy 9.5: a cron job of a removed (not purged) package must do nothing.
  local line cmd rc
  line=$(grep -E '^#[*0-9].*curl ' /etc/cron.d/$PKG | head -n 1)
  cmd=$(sed -E 's/^#([^ ]+ +){5}[^ ]+ +//' <<<"$line")
  cmd=${cmd//http:\/\/127.0.0.1:8080/http://127.0.0.1:${NODE_PORT[1]}}
  rc=0
  env -i PATH=/usr/bin:/bin /bin/sh -c "$cmd" >"$WORK/cron.out" 2>&1 || rc=$?
  if [ ! -s "$WORK/cron.out" ]; then pass "a cron line after remove is silent (exit $rc: the binary is gone)"; else fail "a cron line after remove: exit $rc: $(cat "$WORK/cron.out")"; fi

  phase "dpkg --purge: nothing left"
  expect_cmd "dpkg --purge $PKG" dpkg --purge $PKG
  INSTALLED_BY_SUITE=0
  local st
  st=$(dpkg-query -W -f='${Status}' $PKG 2>/dev/null || echo "unknown to dpkg")
  case "$st" in
    "unknown to dpkg" | *" not-installed") pass "dpkg status after purge ($st)" ;;
    *) fail "dpkg status after purge: $st" ;;
  esac
  for f in /etc/$PKG /etc/cron.d/$PKG /var/log/$PKG /var/lib/$PKG /usr/share/doc/$PKG /usr/bin/odr-operations "$UNIT"; do
    if [ -e "$f" ]; then fail "purge left $f ($(ls -la "$f" 2>&1 | head -3 | tr '\n' ' '))"; else pass "purge removed $f"; fi
  done
  expect_eq "purge: no .dpkg-* leftovers in /etc" "$(find /etc -name "*$PKG*" 2>/dev/null | tr '\n' ' ')" ""
  expect_eq "purge removed the user" "$(getent passwd $PKG || echo none)" none
  expect_eq "purge removed the group" "$(getent group $PKG || echo none)" none
  expect_eq "purge: no systemd state left (deb-systemd-helper)" \
    "$(find /etc/systemd /var/lib/systemd -name "*$PKG*" 2>/dev/null | tr '\n' ' ')" ""
}

# ---------------------------------------------------------------- main

main() {
  local t0=$SECONDS
  ensure_cargo_deb
  TOOLS_SECONDS=$((SECONDS - t0))
  declare -gA GAUGE=()
  BUILD_SECONDS=0
  build_package
  t0=$SECONDS
  ensure_tools
  TOOLS_SECONDS=$((TOOLS_SECONDS + SECONDS - t0))
  check_deb
  install_package
  check_unit
  check_cron_file
  start_simulator
  start_nodes
  check_pages
  nagios_ok
  check_gauges_ok
  state_failed
  check_cron_lines
  check_prometheus_files
  check_prometheus_server
  check_nginx
  state_db_down
  stop_nodes
  reinstall
  remove_and_purge
  echo
  local total=$((SECONDS - SUITE_START))
  echo "suite time $total s: installing tools $TOOLS_SECONDS s, cargo deb $BUILD_SECONDS s, the checks $((total - TOOLS_SECONDS - BUILD_SECONDS)) s"
  if [ ${#SKIPS[@]} -gt 0 ]; then
    echo "${#SKIPS[@]} skipped:"
    printf '  %s\n' "${SKIPS[@]}"
  fi
  echo "$PASSED passed, $FAILED failed"
  FINISHED=1
  [ "$FAILED" -eq 0 ]
}

main "$@"
