#!/usr/bin/env bash
# Run an exoray image with the data folder mounted and the service ports on loopback.
#
#   docker/run.sh [--gpu] [--image IMG] [--data DIR] COMMAND [ARGS...]
#
#   docker/run.sh sweep --smoke-test --out /data/smoke
#   docker/run.sh sweep --input /data/tess/s0001 --out /data/results/s0001 --address local
#   docker/run.sh serve                      # http://127.0.0.1:8000/healthz
#   docker/run.sh dashboard /data/results/s0001   # http://127.0.0.1:8501
#   docker/run.sh --gpu exoray train ...     # GPU image, all GPUs passed through
#
# COMMAND is one of the image's entry points (sweep, serve, dashboard, ray,
# exoray, shell).  DIR (default ./data) is mounted at /data and must be
# writable by uid 1000, the image's user.  Ports are published on 127.0.0.1
# only; put a reverse proxy with authentication in front to expose them.
set -euo pipefail

image="${EXORAY_IMAGE:-exoray:0.1.0-cpu}"
data="${EXORAY_DATA:-$PWD/data}"
gpu=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --gpu) gpu=1; image="${EXORAY_IMAGE:-exoray:0.1.0-gpu}"; shift ;;
    --image) image="${2:?--image needs a value}"; shift 2 ;;
    --data) data="${2:?--data needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
if [ "$#" -eq 0 ]; then
  echo "usage: docker/run.sh [--gpu] [--image IMG] [--data DIR] COMMAND [ARGS...]" >&2
  exit 2
fi
mkdir -p "$data"

args=(run --rm --init
      -v "$data:/data"
      -p 127.0.0.1:8000:8000 -p 127.0.0.1:8501:8501 -p 127.0.0.1:8265:8265
      --shm-size=2g)
[ -t 0 ] && args+=(-it)
[ "$gpu" -eq 1 ] && args+=(--gpus all)
# Ray: keep a single-container Ray on the container's loopback.
args+=(-e RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)

if [ "${EXORAY_DRY_RUN:-0}" = "1" ]; then
  printf '%q ' docker "${args[@]}" "$image" "$@"; echo
  exit 0
fi
if ! command -v docker >/dev/null 2>&1; then
  echo "docker/run.sh: the docker CLI is not installed (see docker/README.md)" >&2
  exit 127
fi
exec docker "${args[@]}" "$image" "$@"
