#!/bin/sh
# setup.sh: the initial topology, once both servers answer: node a the
# writable primary with the schemas (app.t, failover.promotions), node b
# its read-only replica (GTID). Idempotent.
set -eu
NODE=a
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
for n in a b; do
	i=0
	until serving "$n"; do
		[ $i -lt 120 ] || fail "node $n does not answer within 60s"
		sleep 0.5
		i=$((i + 1))
	done
done
sql a "SET GLOBAL read_only = OFF;
	CREATE DATABASE IF NOT EXISTS app;
	CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY, note VARCHAR(64) NOT NULL);
	CREATE DATABASE IF NOT EXISTS failover;
	CREATE TABLE IF NOT EXISTS failover.promotions (
		id INT AUTO_INCREMENT PRIMARY KEY, node CHAR(1) NOT NULL, lost CHAR(1) NOT NULL,
		rule VARCHAR(128) NOT NULL, at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"
if [ "$(source_port b)" != "$(port_of a)" ]; then
	replicate b a
fi
echo "node a primary, node b its replica"
