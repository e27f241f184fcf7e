# Sourced by scripts/test: start PostgreSQL and Redis when they are down, and fail loudly if they stay down.
pg_up() { python - <<'PY'
import sys, psycopg
try:
    psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3).close()
except Exception as exc:
    print(exc, file=sys.stderr); sys.exit(1)
PY
}
redis_up() { python -c "import redis,sys; sys.exit(0 if redis.Redis(host='127.0.0.1', port=6379, socket_timeout=2).ping() else 1)" 2>/dev/null; }

ensure_postgres() {
  if ! pg_up 2>/dev/null; then
    echo "==> PostgreSQL is down: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up 2>/dev/null && break; sleep 1; done
  fi
  pg_up || { echo "FATAL: PostgreSQL at 127.0.0.1:5432 (database test) is not reachable" >&2; exit 1; }
}

ensure_redis() {
  if ! redis_up; then
    echo "==> Redis is down: starting it"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  fi
  redis_up || { echo "FATAL: Redis at 127.0.0.1:6379 is not reachable" >&2; exit 1; }
}

ensure_chromium() {
  # Browser tests drive Debian's chromium through Playwright; never a browser download.
  if ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || { echo "FATAL: could not install chromium (apt-get)" >&2; exit 1; }
  fi
}
