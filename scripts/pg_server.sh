#!/usr/bin/env bash
# A throwaway PostgreSQL server for the project tests: `source scripts/pg_server.sh` starts one
# (initdb + pg_ctl, password authentication, loopback only, a free port, everything in a temp
# folder owned by an unprivileged user) and exports
#   VOXMARK_TEST_PG          postgresql://USER@127.0.0.1:PORT/postgres (no password in it)
#   PGPASSWORD               the server's password (read by voxmark as libpq does)
#   VOXMARK_TEST_PG_RESTART  a command that restarts the server (the reconnect test)
#   VOXMARK_TEST_PG_CA       the CA certificate of the server's TLS certificate (for
#                            localhost; TLS is on, plain connections are allowed too)
# and stops it (and removes the folder) when the sourcing shell exits.
set -euo pipefail

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "pg_server.sh: no PostgreSQL server binaries under /usr/lib/postgresql (apt install postgresql)" >&2
  return 1 2>/dev/null || exit 1
fi

PG_USER=$(id -un)
RUN=()
if [ "$(id -u)" -eq 0 ]; then
  # initdb refuses root: the server runs as an unprivileged system user.
  PG_USER=voxmark-pg
  id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  RUN=(runuser -u "$PG_USER" --)
fi

PG_DIR=$(mktemp -d /tmp/voxmark-pg.XXXXXX)
chmod 755 "$PG_DIR"
[ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$PG_DIR"
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PG_PASS=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$PG_PASS" >"$PG_DIR/pwfile"
[ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$PG_DIR/pwfile"

"${RUN[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" -A scram-sha-256 --pwfile="$PG_DIR/pwfile" \
  --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
  || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
rm -f "$PG_DIR/pwfile"
# TLS: a throwaway CA and a server certificate for "localhost" signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=voxmark test CA" \
  -keyout "$PG_DIR/ca.key" -out "$PG_DIR/ca.crt" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$PG_DIR/server.key" -out "$PG_DIR/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost\n' >"$PG_DIR/san.ext"
openssl x509 -req -in "$PG_DIR/server.csr" -CA "$PG_DIR/ca.crt" -CAkey "$PG_DIR/ca.key" \
  -CAcreateserial -days 2 -extfile "$PG_DIR/san.ext" -out "$PG_DIR/server.crt" >/dev/null 2>&1
chmod 600 "$PG_DIR/server.key"
[ "$(id -u)" -eq 0 ] && chown "$PG_USER" "$PG_DIR/server.key" "$PG_DIR/server.crt"
PG_OPTS="-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 -c ssl=on -c ssl_cert_file=$PG_DIR/server.crt -c ssl_key_file=$PG_DIR/server.key"
"${RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -o "$PG_OPTS" -w start >/dev/null \
  || { cat "$PG_DIR/server.log" >&2; exit 1; }

export VOXMARK_TEST_PG="postgresql://$PG_USER@127.0.0.1:$PG_PORT/postgres"
export PGPASSWORD="$PG_PASS"
export VOXMARK_TEST_PG_CA="$PG_DIR/ca.crt"
export VOXMARK_TEST_PG_RESTART="${RUN[*]} $PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/server.log -o '$PG_OPTS' -m fast -w restart"
_voxmark_pg_stop() {
  "${RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
trap _voxmark_pg_stop EXIT
echo "pg_server.sh: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT ($PG_DIR)"
