#!/bin/sh
# init.sh: the entrypoint of the eventsd-mariadb image (hack/mariadb-image.sh).
#
# On the first start it creates the data directory as mariadb-install-db
# does (the system tables through mariadbd --bootstrap); at every start it
# makes the accounts of the example (the application's has no privilege
# that passes read_only), then it runs mariadbd in the foreground, on 127.0.0.1 only.
# Every server starts read-only: a server that comes back is never a second
# primary by accident; setup.sh and promote.sh make the primary writable.
#
# Environment: MARIADB_PORT, MARIADB_SERVER_ID (distinct per server), and the
# passwords MARIADB_ADMIN_PASSWORD, MARIADB_REPL_PASSWORD, MARIADB_APP_PASSWORD
# ([A-Za-z0-9_]+: they are written into the accounts' SQL).
set -eu
umask 077 # the accounts' SQL holds the passwords
: "${MARIADB_PORT:?}" "${MARIADB_SERVER_ID:?}"
: "${MARIADB_ADMIN_PASSWORD:?}" "${MARIADB_REPL_PASSWORD:?}" "${MARIADB_APP_PASSWORD:?}"
for v in "$MARIADB_PORT" "$MARIADB_SERVER_ID"; do
	case $v in '' | *[!0-9]*) echo "init.sh: not a number: $v" >&2; exit 2 ;; esac
done
for v in "$MARIADB_ADMIN_PASSWORD" "$MARIADB_REPL_PASSWORD" "$MARIADB_APP_PASSWORD"; do
	case $v in '' | *[!A-Za-z0-9_]*) echo "init.sh: a password must be [A-Za-z0-9_]+" >&2; exit 2 ;; esac
done

data=/var/lib/mysql
share=/usr/share/mysql
mkdir -p "$data" /run/mysqld /tmp
common="--no-defaults --user=root --datadir=$data --basedir=/usr --lc-messages-dir=$share --plugin-dir=/usr/lib/mysql/plugin"

if [ ! -d "$data/mysql" ]; then
	echo "init.sh: creating the data directory"
	{
		echo "create database if not exists mysql;"
		echo "use mysql;"
		echo "SET @auth_root_socket='root';"
		cat "$share/mysql_system_tables.sql" "$share/mysql_performance_tables.sql" \
			"$share/mysql_system_tables_data.sql" "$share/maria_add_gis_sp_bootstrap.sql" \
			"$share/mysql_sys_schema.sql"
	} > /tmp/bootstrap.sql
	# shellcheck disable=SC2086 # $common is a list of options
	/usr/sbin/mariadbd $common --bootstrap --log-warnings=0 --innodb-use-native-aio=0 < /tmp/bootstrap.sql
	rm -f /tmp/bootstrap.sql
fi

# The accounts, the same on every server (any of them may become the
# primary), over TCP from 127.0.0.1 only, made at each start (an init file:
# --bootstrap refuses CREATE USER), kept out of the binary log so that no
# server has transactions of its own before replication starts.
cat > /tmp/accounts.sql <<SQL
SET sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'admin'@'127.0.0.1' IDENTIFIED BY '$MARIADB_ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY '$MARIADB_REPL_PASSWORD';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
CREATE USER IF NOT EXISTS 'app'@'127.0.0.1' IDENTIFIED BY '$MARIADB_APP_PASSWORD';
GRANT ALL PRIVILEGES ON app.* TO 'app'@'127.0.0.1';
SQL

# GTID replication: every server writes a binary log (log_slave_updates:
# with what it replicated too), so that any of them can be the primary.
# shellcheck disable=SC2086
exec /usr/sbin/mariadbd $common \
	--port="$MARIADB_PORT" --bind-address=127.0.0.1 --socket=/run/mysqld/mysqld.sock \
	--server-id="$MARIADB_SERVER_ID" --log-bin=mariadb-bin --log-slave-updates --gtid-strict-mode=1 \
	--binlog-format=ROW --read-only=ON --skip-name-resolve --innodb-use-native-aio=0 \
	--skip-slave-start --init-file=/tmp/accounts.sql
