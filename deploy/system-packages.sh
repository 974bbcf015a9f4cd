#!/usr/bin/env bash
# Installs the Debian packages ICLoRA Studio needs when their commands are missing.
# Usage: deploy/system-packages.sh COMMAND=PACKAGE ...   e.g. ffmpeg=ffmpeg chromium=chromium
set -euo pipefail
missing=()
for pair in "$@"; do
  command_name=${pair%%=*}
  package=${pair#*=}
  command -v "$command_name" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
# One install at a time: CI builds the Docker images while the tests run, and both may need packages; apt refuses
# a second process while the first holds its lock. Whatever the first one installed is not asked for again.
exec 9>"${TMPDIR:-/tmp}/iclora-system-packages.lock"
command -v flock >/dev/null 2>&1 && flock 9
still=()
for package_name in "${missing[@]}"; do
  dpkg-query -W -f='${Status}' "$package_name" 2>/dev/null | grep -q "ok installed" || still+=("$package_name")
done
missing=("${still[@]}")
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install these packages with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Run as root or install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
