# lib.sh: what promote.sh, rejoin.sh and setup.sh share; sourced, no handler
# of its own.
#
# The two servers are nodes a and b: mariadb-a on engine a, mariadb-b on
# engine b, both --network host on 127.0.0.1. Everything comes from the
# environment, with these defaults:
#   MARIADB_HOST          127.0.0.1
#   MARIADB_A_PORT        24610          MARIADB_B_PORT  24611
#   MARIADB_ADMIN_PASSWORD, MARIADB_REPL_PASSWORD   (required, [A-Za-z0-9_]+)
#   FAILOVER_LOCK         $TMPDIR/eventsd-mysql-failover.lock
#   MARIADB               the mariadb client (default: mariadb)
# Values that end up in SQL (ports, host, passwords, node names) are checked
# against strict patterns first: SQL has no parameters for CHANGE MASTER.
# shellcheck shell=sh

mariadb=${MARIADB:-mariadb}
host=${MARIADB_HOST:-127.0.0.1}
: "${MARIADB_ADMIN_PASSWORD:?}" "${MARIADB_REPL_PASSWORD:?}"

fail() { echo "$*" >&2; exit 1; }
check() { # check PATTERN-NAME VALUE
	case $1 in
	number) case $2 in '' | *[!0-9]*) fail "not a number: $2" ;; esac ;;
	word) case $2 in '' | *[!A-Za-z0-9_]*) fail "not [A-Za-z0-9_]+: $2" ;; esac ;;
	host) case $2 in '' | *[!A-Za-z0-9.-]*) fail "not a host name or address: $2" ;; esac ;;
	esac
}
check host "$host"
check word "$MARIADB_ADMIN_PASSWORD"
check word "$MARIADB_REPL_PASSWORD"

# port_of NODE, peer_of NODE: the node's port, the other node.
port_of() {
	case $1 in
	a) p=${MARIADB_A_PORT:-24610} ;;
	b) p=${MARIADB_B_PORT:-24611} ;;
	*) fail "unknown node: $1 (want a or b)" ;;
	esac
	check number "$p"
	echo "$p"
}
peer_of() {
	case $1 in
	a) echo b ;;
	b) echo a ;;
	*) fail "unknown node: $1 (want a or b)" ;;
	esac
}

# sql NODE STATEMENTS [OPTION]: run them on NODE as admin; prints rows,
# tab-separated, without the column names (OPTION -N, the default) or with
# them (-B: the names of a vertical \G listing).
sql() {
	MYSQL_PWD=$MARIADB_ADMIN_PASSWORD "$mariadb" --protocol=tcp -h "$host" -P "$(port_of "$1")" \
		-u admin --connect-timeout=3 -B "${3:--N}" -e "$2"
}

# slave_status NODE: SHOW SLAVE STATUS, one "Name: value" a line.
slave_status() { sql "$1" 'SHOW SLAVE STATUS\G' -B; }

# serving NODE: whether NODE answers a query.
serving() { sql "$1" 'SELECT 1' >/dev/null 2>&1; }

# read_only NODE: 1 or 0.
read_only() { sql "$1" 'SELECT @@global.read_only'; }

# source_port NODE: the port NODE replicates from, empty when it is no replica.
source_port() {
	slave_status "$1" | awk '$1 == "Master_Port:" { print $2 }'
}

# replicate NODE FROM: make NODE a read-only replica of FROM (GTID).
replicate() {
	sql "$1" "SET GLOBAL read_only = ON; STOP SLAVE; RESET SLAVE ALL;
		CHANGE MASTER TO MASTER_HOST = '$host', MASTER_PORT = $(port_of "$2"),
			MASTER_USER = 'repl', MASTER_PASSWORD = '$MARIADB_REPL_PASSWORD',
			MASTER_USE_GTID = current_pos;
		START SLAVE"
}

# lock: one failover step at a time on this host (the daemon runs promote.sh
# and rejoin.sh for several rules, maybe at once): fd 9 holds the lock until
# the script exits.
lock() {
	exec 9>"${FAILOVER_LOCK:-${TMPDIR:-/tmp}/eventsd-mysql-failover.lock}"
	flock -w 60 9 || fail "lock not taken within 60s"
}

# node: the node the script is about, NODE (state rules' env:) or
# FROM_ENGINE (event rules: the engine is named as the node).
node=${NODE:-${FROM_ENGINE:-}}
peer_of "$node" >/dev/null
rule=${EVENTSD_RULE:-manual}
case $rule in *[!A-Za-z0-9_.-]*) rule=unnamed ;; esac
