#!/usr/bin/env bash
# A real third-party OAuth 2 authorization server on loopback for the end-to-end test of OAuth
# connections: the npm package oauth2-mock-server, installed into .oauth-mock/ and started by
# scripts/oauth-mock-server.mjs.
#
# Source it and call start_oauth_mock (exports OAUTH_MOCK_URL=http://127.0.0.1:PORT, the issuer)
# and stop_oauth_mock; or run it: scripts/oauth-mock.sh start|stop.
# Port: $OAUTH_MOCK_PORT, else 18090 if free, else one the OS chooses (0 also means that).

OAUTH_MOCK_VERSION=8.2.3 # 8.x supports Node ^20.19; 9.x needs Node >= 22.12
OAUTH_MOCK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OAUTH_MOCK_DIR="$OAUTH_MOCK_ROOT/.oauth-mock"

start_oauth_mock() {
  local dir="$OAUTH_MOCK_DIR" pkg="$OAUTH_MOCK_DIR/node_modules/oauth2-mock-server/package.json"
  if ! grep -q "\"version\": \"$OAUTH_MOCK_VERSION\"" "$pkg" 2>/dev/null; then
    echo "installing oauth2-mock-server@$OAUTH_MOCK_VERSION into .oauth-mock/"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --save-exact --loglevel=error \
      "oauth2-mock-server@$OAUTH_MOCK_VERSION" </dev/null
  fi
  stop_oauth_mock # a server left over from an interrupted run

  local port="${OAUTH_MOCK_PORT:-18090}"
  if [ -z "${OAUTH_MOCK_PORT:-}" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    port=0 # 18090 is taken: let the OS choose
  fi
  : >"$dir/server.log" # exists before the background job opens it
  OAUTH_MOCK_DIR="$dir" node "$OAUTH_MOCK_ROOT/scripts/oauth-mock-server.mjs" "$port" \
    </dev/null >"$dir/server.log" 2>&1 &
  local pid=$! url="" _
  echo "$pid" >"$dir/server.pid"

  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    url="$(sed -n 's/^oauth-mock listening on //p' "$dir/server.log")"
    if [ -n "$url" ] && curl -fsS --max-time 2 -o /dev/null "$url/.well-known/openid-configuration"; then
      export OAUTH_MOCK_URL="$url"
      echo "oauth2-mock-server $OAUTH_MOCK_VERSION at $OAUTH_MOCK_URL"
      return 0
    fi
    sleep 0.2
  done
  echo "oauth2-mock-server did not start; its log:" >&2
  cat "$dir/server.log" >&2
  stop_oauth_mock
  return 1
}

stop_oauth_mock() {
  local pidfile="$OAUTH_MOCK_DIR/server.pid" pid _
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  rm -f "$pidfile"
  # Only our launcher: the PID may have been reused since an interrupted run wrote the file.
  [[ "$(ps -p "$pid" -o args= 2>/dev/null)" == *oauth-mock-server.mjs* ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 25); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start) start_oauth_mock && echo "OAUTH_MOCK_URL=$OAUTH_MOCK_URL" ;;
    stop) stop_oauth_mock ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
  esac
fi
