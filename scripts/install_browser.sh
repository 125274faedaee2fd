#!/usr/bin/env bash
# Install what the real-browser map test (tests/notebooks/test_browser_map.py) needs: Debian's headless
# Chromium and its chromedriver. Idempotent: does nothing when both are already there. No browser download
# from anywhere but the system's package manager; the test talks to chromedriver over plain HTTP, so no
# Python package is needed. Without apt-get (macOS, conda-only machines) it explains and leaves; the test
# then skips with the same explanation.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && { have chromedriver || [ -x /usr/lib/chromium/chromedriver ]; }; then
    echo "install_browser: chromium and chromedriver already installed ($(chromium --version 2>/dev/null | head -n1))"
    exit 0
fi

if ! have apt-get; then
    echo "install_browser: no apt-get here; install Chromium and a matching chromedriver with your package" \
         "manager to run the browser test (it is skipped without them)." >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if have sudo; then SUDO="sudo"; else
        echo "install_browser: need root (or sudo) to run apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
echo "install_browser: installed $(chromium --version 2>/dev/null | head -n1)"
