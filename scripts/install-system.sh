#!/usr/bin/env bash
# System packages the tests need from Debian: Chromium and its driver (browser tests), Prometheus with promtool and
# the Redis exporter (alert-rule unit tests, dashboard queries against a real Prometheus), Alertmanager with amtool
# (its config checked, an alert e-mailed), Caddy (the TLS proxy in front of a real gateway), wrk (the serving
# benchmark's load generator: its aiohttp fallback spends the cores it measures). Needs root; installs only what is
# missing.
set -euo pipefail
declare -A provides=([chromium]=chromium [chromedriver]=chromium-driver [prometheus]=prometheus [promtool]=prometheus
  [prometheus-redis-exporter]=prometheus-redis-exporter [prometheus-alertmanager]=prometheus-alertmanager
  [amtool]=prometheus-alertmanager [caddy]=caddy [wrk]=wrk)
missing=()
for command in "${!provides[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${provides[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${missing[*]} and this is not root: the tests that need them are skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's prometheus, alertmanager and caddy packages would start servers where an init system runs; the tests
# start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
