#!/usr/bin/env bash
# Install the headless browser the HTML end-to-end test drives (Debian's chromium) and the
# Playwright driver for Python into .venv. Idempotent: does nothing that is already done.
# Playwright is used with executable_path=/usr/bin/chromium; never `playwright install`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
chromium --version 2>/dev/null

if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import playwright' 2>/dev/null; then
    if [ -x .venv/bin/uv ]; then
        .venv/bin/uv pip install --quiet --python .venv/bin/python -e '.[dev,browser]'
    else
        .venv/bin/python -m pip install --quiet -e '.[dev,browser]'
    fi
fi
