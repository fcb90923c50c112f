#!/usr/bin/env bash
# Installs the Debian packages Herald needs. Sourced by run.sh and test.sh.
# Usage: install_packages build|test
set -euo pipefail

HERALD_BUILD_PACKAGES=(
  build-essential cmake pkg-config git
  libboost-dev libboost-system-dev libssl-dev
  libsqlite3-dev libmysqlcppconn-dev nlohmann-json3-dev libspdlog-dev
  libjwt-dev libhiredis-dev libtomlplusplus-dev catch2 libcurl4-openssl-dev librabbitmq-dev
)
HERALD_TEST_PACKAGES=(
  mariadb-server mariadb-client redis-server nginx-light chromium nodejs npm curl python3 python3-websocket python3-pytest python3-cryptography
  libclang-rt-14-dev clang-14 libfuzzer-14-dev util-linux
  rabbitmq-server python3-pika
)
HERALD_TEST_PACKAGES+=(clang-format)  # deploy/lib/format_check.sh

install_packages() {
  local want=("${HERALD_BUILD_PACKAGES[@]}")
  if [ "${1:-build}" = "test" ]; then want+=("${HERALD_TEST_PACKAGES[@]}"); fi
  local missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # node/npm may come from outside Debian on some machines: accept any working node.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    local keep=()
    for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || keep+=("$p"); done
    missing=("${keep[@]}")
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's postinst scripts try to start services; stop them from doing so.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    local cleanup_policy=1
  fi
  $sudo apt-get update -qq || true
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # rabbitmq-server's package may start a system node on 5672 (where services can start): the
  # tests run a private node of their own (deploy/lib/rabbitmq.sh), so the system one is off.
  if printf '%s\n' "${missing[@]}" | grep -qx rabbitmq-server && command -v systemctl >/dev/null &&
      [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  fi
  [ -n "${cleanup_policy:-}" ] && $sudo rm -f /usr/sbin/policy-rc.d
  return 0
}
