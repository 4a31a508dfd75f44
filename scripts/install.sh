#!/usr/bin/env bash
# Fresh-machine set-up for developing fgclip: Debian's Chromium for the browser test and redis-server for the
# collection queue tests (when missing), then
# `npm ci`, which also builds dist/ (the `prepare` script). Library users need only `npm install fgclip`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install: Debian chromium (for the web page's browser test)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install: /usr/bin/chromium is missing and this is not root: run 'sudo apt-get install -y chromium' for the browser test" >&2
  fi
fi
# redis-server: the collection queue tests start their own instance on a loopback port
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install: Debian redis-server (for the collection queue tests)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "install: redis-server is missing and this is not root: run 'sudo apt-get install -y redis-server' for the queue tests" >&2
  fi
fi
# onnxruntime-node's install script would fetch its CUDA 12 provider from NuGet (outside the npm registry); the CPU
# build that fgclip uses ships inside the npm package. ONNXRUNTIME_NODE_INSTALL=skip is what its script (1.30,
# script/install-utils.js) reads to skip that download; npm 11.19 (on this machine) does not run dependencies' install scripts unless approved.
ONNXRUNTIME_NODE_INSTALL=skip npm ci
