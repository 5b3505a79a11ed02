#!/usr/bin/env bash
# Runs every test: formatting, lints, unit and integration tests.
# Starts a throwaway PostgreSQL cluster on a free loopback port (installing PostgreSQL from
# Debian's packages when it is missing) and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

find_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Debian packages the tests start as real servers: PostgreSQL, Dovecot (IMAP, SMTP submission),
# Postfix's smtp-sink; and strace, which watches a demo run for outbound connections.
missing=()
find_pg_bin >/dev/null || missing+=(postgresql)
command -v dovecot >/dev/null || missing+=(dovecot-imapd)
[ -x /usr/lib/dovecot/submission ] || missing+=(dovecot-submissiond)
command -v smtp-sink >/dev/null || missing+=(postfix)
command -v openssl >/dev/null || missing+=(openssl)
command -v strace >/dev/null || missing+=(strace)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages may start their own daemons; the tests run their own instances.
  service postfix stop >/dev/null 2>&1 || true
  service dovecot stop >/dev/null 2>&1 || true
  service postgresql stop >/dev/null 2>&1 || true
fi
PG_BIN=$(find_pg_bin)

WORK=$(mktemp -d /tmp/brevduva-test.XXXXXX)
chmod 755 "$WORK"
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  if [ -f "$WORK/pg/postmaster.pid" ]; then
    su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$WORK/pg' -m fast stop" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
mkdir -p "$WORK/pg"
chown postgres "$WORK/pg"
su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$WORK/pg' -U postgres --auth=trust" >/dev/null
su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$WORK/pg' -l '$WORK/pg/log' -o \"-p $PG_PORT -k '$WORK/pg' -c listen_addresses=127.0.0.1\" -w start" >/dev/null
export BREVDUVA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

log "cargo fmt --check"
cargo fmt --check
log "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
# Headless Chromium (Debian) and the npm packages (playwright-core, axe-core) of the browser
# tests in tests/browser, when missing.
if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if [ ! -d tests/browser/node_modules ]; then
  log "npm ci --prefix tests/browser"
  npm ci --prefix tests/browser --no-audit --no-fund --silent >/dev/null
fi
log "cargo test"
cargo test --lib --bins --tests 2>&1 | tee "$WORK/test.log"
# One plain closing line with the totals over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$WORK/test.log"
