#!/usr/bin/env bash
# The programs the monitoring tests run, from Debian's packages: promtool and prometheus
# (prometheus), amtool and prometheus-alertmanager, prometheus-postgres-exporter. `make test` runs
# this first. Installs what is missing when run as root on Debian; elsewhere it only says what is
# missing, and the tests that need it skip with the same message.
set -uo pipefail
declare -A package_of=(
  [promtool]=prometheus [prometheus]=prometheus
  [amtool]=prometheus-alertmanager [prometheus-alertmanager]=prometheus-alertmanager
  [prometheus-postgres-exporter]=prometheus-postgres-exporter
  [caddy]=caddy  # the enrolment proxy's tests (test_enrol_proxy.py): caddy validate and caddy run
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "monitoring tests: ${packages[*]} missing (installed by make test only as root on Debian); those tests skip"
  exit 0
fi
echo "monitoring tests: installing Debian packages ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
install || { apt-get update -qq >/dev/null && install; } || {
  echo "monitoring tests: could not install ${packages[*]}; those tests skip"
  exit 0
}
# The tests start these programs themselves, on loopback: the system services the packages just
# installed (listening on every address) are not wanted.
if [ -d /run/systemd/system ]; then
  for unit in "${packages[@]}"; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
