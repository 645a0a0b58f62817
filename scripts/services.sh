#!/usr/bin/env bash
# Start, stop and describe the real services the test suite uses: a PostgreSQL server
# and an S3-compatible server (moto in server mode), both on loopback.
#   scripts/services.sh start   # idempotent
#   scripts/services.sh env     # prints `export ...` lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh stop
#   scripts/services.sh status
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${AGNT_SERVICES_DIR:-/tmp/agnt-services}
pg_port=${AGNT_SERVICES_PG_PORT:-54329}
s3_port=${AGNT_SERVICES_S3_PORT:-59000}
pg_data="$dir/pgdata"
s3_pid="$dir/s3.pid"

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  return 1
}

# Postgres refuses to run as root; run its tools as the postgres user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  local bin; bin=$(pg_bin)
  mkdir -p "$dir"
  if [ ! -f "$pg_data/PG_VERSION" ]; then
    mkdir -p "$pg_data"
    [ "$(id -u)" = 0 ] && chown -R postgres: "$pg_data"
    as_pg "$bin/initdb" -D "$pg_data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
  fi
  if as_pg "$bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1; then return 0; fi
  # fsync off: test data is disposable; many connections: xdist workers and race tests.
  as_pg "$bin/pg_ctl" -D "$pg_data" -l "$pg_data/server.log" -w -t 60 start \
    -o "-h 127.0.0.1 -p $pg_port -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null
}

start_s3() {
  mkdir -p "$dir"
  if [ -f "$s3_pid" ] && kill -0 "$(cat "$s3_pid")" 2>/dev/null; then return 0; fi
  # The subshell must not hold the caller's stdout open while the server runs.
  (cd "$root" || exit 1; nohup uv run --frozen moto_server -H 127.0.0.1 -p "$s3_port" >"$dir/s3.log" 2>&1 </dev/null & echo $! >"$s3_pid")
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$s3_port/moto-api/" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "S3 server did not start; see $dir/s3.log" >&2
  return 1
}

case "${1:-}" in
  start)
    start_postgres
    start_s3
    ;;
  stop)
    if [ -f "$s3_pid" ]; then
      pkill -P "$(cat "$s3_pid")" 2>/dev/null || true
      kill "$(cat "$s3_pid")" 2>/dev/null || true
      rm -f "$s3_pid"
    fi
    pkill -f "moto_server -H 127.0.0.1 -p $s3_port" 2>/dev/null || true
    if [ -f "$pg_data/PG_VERSION" ]; then
      as_pg "$(pg_bin)/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  env)
    echo "export AGNT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$pg_port/postgres"
    echo "export AGNT_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port"
    echo "export AWS_ACCESS_KEY_ID=\${AWS_ACCESS_KEY_ID:-testing}"
    echo "export AWS_SECRET_ACCESS_KEY=\${AWS_SECRET_ACCESS_KEY:-testing}"
    echo "export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-us-east-1}"
    ;;
  status)
    as_pg "$(pg_bin)/pg_ctl" -D "$pg_data" status || true
    if [ -f "$s3_pid" ] && kill -0 "$(cat "$s3_pid")" 2>/dev/null; then echo "s3: running (pid $(cat "$s3_pid"))"; else echo "s3: stopped"; fi
    ;;
  *)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
