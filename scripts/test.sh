#!/usr/bin/env bash
# The one command that tests fw on any machine, fresh or not: installs fw with its test
# extra, makes a real redis-server available (Debian's package when it is missing), type-checks
# fw (mypy --strict), then runs pytest. The tests start their own redis-server on a free port
# and stop it after. Both always run; the exit code is non-zero if either failed. mypy runs
# first so that pytest's summary stays the closing line.
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

mypy_status=0
python3 -m mypy --strict framework || mypy_status=$?

pytest_status=0
python3 -m pytest "$@" || pytest_status=$?
if [ "$mypy_status" != 0 ]; then
    echo "mypy --strict framework failed (exit $mypy_status): its errors are above" >&2
fi
if [ "$pytest_status" != 0 ]; then
    exit "$pytest_status"
fi
exit "$mypy_status"
