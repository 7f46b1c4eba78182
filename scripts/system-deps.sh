#!/usr/bin/env bash
# Installs the Debian packages the product needs when they are missing: PostgreSQL 15 with
# PostGIS 3 (the database), wrk (the loopback load generator of bench/), Kannel (the SMS
# gateway the notification tests go through), Chromium (the browser tests drive it through
# Playwright: never a downloaded browser), and Node.js with npm when there is no npm at all
# (the front-end libraries come from the npm registry); for the field app (Kivy) the GL
# libraries, a virtual screen (Xvfb) for its tests and a font with Hangul (Nanum).
# Idempotent: does nothing when everything is there. Uses sudo when not root.
set -euo pipefail

want=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib wrk kannel kannel-extras chromium
      xvfb xauth libgl1 libegl1 libgl1-mesa-dri libmtdev1 fonts-nanum)
command -v npm >/dev/null || want+=(nodejs npm)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The postgresql-common package would create and start a system cluster on 5432; we do not
# need it (ours lives under .data/), so keep it from being created.
$sudo mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/dasan.conf >/dev/null
# Kannel's package would start a system bearerbox where an init system runs; the tests start
# their own on loopback ports, so keep package scripts from starting services meanwhile.
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  own_policy=1
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -n "$own_policy" ]; then $sudo rm -f "$policy"; fi
echo "installed: ${missing[*]}"
