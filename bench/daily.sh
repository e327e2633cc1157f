#!/usr/bin/env bash
# The runbook's daily health check as a plain shell script (the baseline for bench_daily.py).
# Usage: daily.sh API_URL PG_PORT REDIS_PORT [celery]   (passwords from PGPASSWORD/REDISCLI_AUTH)
set -u
api=$1 pg_port=$2 redis_port=$3 pg_bin=${PG_BIN:?} redis_cli=${REDIS_CLI:?} t=${TIMEOUT:-2}
rc=0
curl -fsS -o /dev/null --max-time "$t" "$api/api/v1/health" || rc=1
curl -fsS -o /dev/null --max-time "$t" "$api/api/v1/ready" || rc=1
PGCONNECT_TIMEOUT=$t "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U lms -d lms -tAc "SELECT 1" \
  >/dev/null || rc=1
timeout "$t" "$redis_cli" -h 127.0.0.1 -p "$redis_port" ping >/dev/null || rc=1
if [ "${4:-}" = celery ]; then
  timeout "$t" celery -b "$BROKER_URL" inspect ping --timeout 0.5 >/dev/null 2>&1 || rc=1
fi
exit $rc
