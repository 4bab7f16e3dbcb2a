#!/usr/bin/env bash
# Makes the packaged configuration from the repo's: deploy/operations.properties from
# operations.properties and deploy/log4rs.yaml from log4rs.yaml. Run it after changing either;
# tests/package/run.sh fails while the packaged files differ from what this makes.
#
#   bash deploy/sync-config.sh            # rewrite deploy/operations.properties and deploy/log4rs.yaml
#   bash deploy/sync-config.sh OUTDIR     # write them into OUTDIR instead (the test compares)
#
# The differences, and only these: logging.config=/etc/odr-operations/log4rs.yaml, a commented
# MariaDB URL placeholder, notes on where the package puts things; log paths under
# /var/log/odr-operations/. Every key and default is the repo's.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/deploy}
mkdir -p "$OUT"

awk '
  NR == 1 {
    print
    print "# Installed by the Debian package as /etc/odr-operations/operations.properties (a conffile:"
    print "# your changes survive upgrades). Readable by root and the group odr-operations only, because"
    print "# it holds the database password and the start token. Apply changes: systemctl restart odr-operations."
    next
  }
  /^datasource\.odr\.url=/ {
    print "# A relative SQLite path is relative to WorkingDirectory=/var/lib/odr-operations (one node only)."
    print "# A cluster: every node points at the same MariaDB database, e.g."
    print "#datasource.odr.url=mysql://odr:CHANGE-ME@db.internal:3306/odr"
    print
    urls++
    next
  }
  $0 == "# If set, start URLs require the header Authorization: Bearer <token>." {
    print "# If set, start URLs require the header Authorization: Bearer <token> (as in /etc/cron.d/odr-operations)."
    token++
    next
  }
  /^logging\.config=/ {
    print "# The packaged one logs to /var/log/odr-operations/."
    print "logging.config=/etc/odr-operations/log4rs.yaml"
    logging++
    next
  }
  { print }
  END {
    if (urls != 1 || token != 1 || logging != 1) {
      print "sync-config.sh: operations.properties changed shape (datasource.odr.url, token comment or logging.config not found once)" > "/dev/stderr"
      exit 1
    }
  }
' "$ROOT/operations.properties" >"$OUT/operations.properties.new"
mv "$OUT/operations.properties.new" "$OUT/operations.properties"

awk '
  # The leading comment block is replaced; the rest is the repo file with absolute log paths.
  !body && /^#/ { next }
  !body {
    print "# Logging of odr-operations (log4rs), installed by the Debian package as"
    print "# /etc/odr-operations/log4rs.yaml (a conffile). Application log: console (the journal under"
    print "# systemd) + /var/log/odr-operations/odr-operations.log. Audit log (logger \"audit\", CPR numbers):"
    print "# /var/log/odr-operations/audit.log only, one JSON object per line, mode 0640 through the"
    print "# unit'"'"'s UMask=0027. Both roll by size and keep a bounded number of files. Re-read every 60 s."
    body = 1
  }
  {
    line = $0
    if (line ~ /^ *(path|pattern): logs\//) { sub(/logs\//, "/var/log/odr-operations/", line); paths++ }
    print line
  }
  END {
    if (paths < 2) {
      print "sync-config.sh: log4rs.yaml has no logs/ paths any more" > "/dev/stderr"
      exit 1
    }
  }
' "$ROOT/log4rs.yaml" >"$OUT/log4rs.yaml.new"
mv "$OUT/log4rs.yaml.new" "$OUT/log4rs.yaml"
