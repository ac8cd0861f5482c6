#!/usr/bin/env bash
# The one command that tests fw on any machine, fresh or not: installs fw with its test
# extra, makes a real redis-server available (Debian's package when it is missing), then
# runs pytest. The tests start their own redis-server on a free port and stop it after.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis-server is missing: installing Debian's package"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
FW_REDIS_SERVER="$(command -v redis-server)"
export FW_REDIS_SERVER
"$FW_REDIS_SERVER" --version

exec python3 -m pytest "$@"
