#!/usr/bin/env bash
# Debian's headless Chromium, which the report test uses to render the HTML report.
# Installs it when missing (as root, through apt); does nothing when it is there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "souverain: chromium is missing; install Debian's 'chromium' package (the report test renders HTML with it)" >&2
  exit 1
fi
echo "souverain: installing Debian's chromium for the report test"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
