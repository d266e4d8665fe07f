#!/usr/bin/env bash
# Installs Debian's Chromium for tests/test_browser.py.
#
#   bash .ci/install-browser.sh
#
# which, as root (or through passwordless sudo), runs
#   apt-get update && apt-get install -y chromium
# It never fails its caller: where Chromium cannot be installed it says so
# and exits 0, and the browser test is skipped with that reason.
set -u

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null)"
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
else
    echo "cannot install chromium: needs root or passwordless sudo; the browser test will be skipped"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "cannot install chromium: no apt-get here (Debian's package is expected); the browser test will be skipped"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if $as_root apt-get update -qq && $as_root apt-get install -y -qq chromium >/dev/null && [ -x /usr/bin/chromium ]; then
    echo "installed $(/usr/bin/chromium --version 2>/dev/null)"
else
    echo "chromium could not be installed; the browser test will be skipped"
fi
exit 0
