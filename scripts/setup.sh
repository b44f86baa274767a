#!/usr/bin/env bash
# Installs what tabgrid needs on a Debian/Ubuntu machine, then the workspace.
#   scripts/setup.sh          ffmpeg, pnpm, node packages (enough for `pnpm start`)
#   scripts/setup.sh --test   also Chromium, docker-compose (to validate the compose file)
#                             and a running local PostgreSQL on 127.0.0.1:5432
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

pkgs=()
{ command -v ffmpeg && command -v ffprobe; } >/dev/null 2>&1 || pkgs+=(ffmpeg)
if [ "$want_tests" = 1 ]; then
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || pkgs+=(chromium)
  command -v docker-compose >/dev/null 2>&1 || pkgs+=(docker-compose)
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${pkgs[*]} with apt-get" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version | cut -d. -f1)" != 10 ]; then
  echo "setup: installing pnpm 10 with npm" >&2
  npm i -g pnpm@10 >/dev/null
fi

if [ "$want_tests" = 1 ] && [ -z "${TEST_DATABASE_URL:-}" ]; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "setup: starting the local PostgreSQL cluster" >&2
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 >&2 || { echo "setup: PostgreSQL is not answering on 127.0.0.1:5432; start it or set TEST_DATABASE_URL" >&2; exit 1; }
fi

pnpm install --frozen-lockfile
