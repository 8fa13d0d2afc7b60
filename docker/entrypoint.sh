#!/usr/bin/env bash
# Entry points of the exoray images.
#
#   sweep ARGS...      python /opt/exoray/jobs/sector_sweep.py ARGS (e.g. --smoke-test --out /data/smoke)
#   serve ARGS...      exoray serve --host 0.0.0.0 ARGS (HTTP API on :8000, /healthz)
#   dashboard OUT ...  exoray dashboard OUT --host 0.0.0.0 (Streamlit on :8501)
#   ray ARGS...        the ray CLI (e.g. `ray start --head --block` in a cluster pod)
#   exoray ARGS...     any exoray subcommand
#   shell              bash
#   healthcheck        used by the image's HEALTHCHECK: probes the service this
#                      container runs (serve: :8000/healthz, dashboard:
#                      :8501/_stcore/health); other roles report healthy
set -euo pipefail
ROLE_FILE="${EXORAY_ROLE_FILE:-/tmp/exoray-role}"
SERVE_PORT="${EXORAY_SERVE_PORT:-8000}"
DASHBOARD_PORT="${EXORAY_DASHBOARD_PORT:-8501}"
probe() {
  python - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=4) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as exc:
    print(f"unhealthy: {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
}
cmd="${1:---help}"
[ "$#" -gt 0 ] && shift
case "$cmd" in
  sweep)
    echo sweep > "$ROLE_FILE"
    exec python /opt/exoray/jobs/sector_sweep.py "$@" ;;
  serve)
    echo serve > "$ROLE_FILE"
    exec exoray serve --host 0.0.0.0 --port "$SERVE_PORT" "$@" ;;
  dashboard)
    echo dashboard > "$ROLE_FILE"
    out="${1:?usage: dashboard OUT [options]}"; shift
    exec exoray dashboard "$out" --host 0.0.0.0 --port "$DASHBOARD_PORT" "$@" ;;
  ray)
    echo ray > "$ROLE_FILE"
    exec ray "$@" ;;
  exoray)
    exec exoray "$@" ;;
  shell)
    exec bash ;;
  healthcheck)
    case "$(cat "$ROLE_FILE" 2>/dev/null || true)" in
      serve) probe "http://127.0.0.1:${SERVE_PORT}/healthz" ;;
      dashboard) probe "http://127.0.0.1:${DASHBOARD_PORT}/_stcore/health" ;;
      *) exit 0 ;;
    esac ;;
  -h|--help|help)
    sed -n '2,12p' "$0"; exit 0 ;;
  *)
    echo "exoray image: unknown command '$cmd' (use sweep, serve, dashboard, ray, exoray or shell)" >&2
    exit 2 ;;
esac
