#!/usr/bin/env bash
# Installs the Debian package that provides a command when the command is missing (as
# root, through apt); does nothing when it is there.
#
#   tools/ensure-command.sh COMMAND PACKAGE [WHAT]    WHAT says what needs it, for messages
set -euo pipefail
command=${1:?usage: ensure-command.sh COMMAND PACKAGE [WHAT]}
package=${2:?usage: ensure-command.sh COMMAND PACKAGE [WHAT]}
what=${3:-souverain}
if command -v "$command" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "souverain: $command is missing; install Debian's '$package' package ($what needs it)" >&2
  exit 1
fi
echo "souverain: installing Debian's $package for $what" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "$package" >/dev/null
command -v "$command" >/dev/null 2>&1 || { echo "souverain: Debian's $package is installed but $command is still missing" >&2; exit 1; }
