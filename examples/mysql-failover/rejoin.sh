#!/bin/sh
# rejoin.sh: node $NODE (or $FROM_ENGINE) runs again. If the other node is
# the primary now, $NODE (an old primary) is made read-only and a replica of
# it. Idempotent, like promote.sh:
#   - $NODE not answering yet (mariadbd starting): exit 1, the daemon retries;
#   - $NODE a replica already: nothing;
#   - the other node writable with no source: $NODE becomes its replica;
#   - the other node replicating from $NODE: $NODE is the primary, restarted
#     read-only (every server starts so): it is made writable again;
#   - anything else (the other node down): nothing, the promote rules decide.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lock
other=$(peer_of "$node")

serving "$node" || fail "node $node does not answer yet"
if [ -n "$(source_port "$node")" ]; then
	echo "node $node is a replica already: nothing to do ($rule)"
	exit 0
fi
if ! serving "$other"; then
	echo "node $other does not answer: nothing to do for $node ($rule)"
	exit 0
fi
if [ "$(read_only "$other")" = 0 ] && [ -z "$(source_port "$other")" ]; then
	replicate "$node" "$other"
	echo "node $node made read-only, a replica of the primary $other ($rule)"
elif [ "$(source_port "$other")" = "$(port_of "$node")" ]; then
	if [ "$(read_only "$node")" = 1 ]; then
		sql "$node" 'SET GLOBAL read_only = OFF'
		echo "node $node is the primary ($other replicates from it): writable again ($rule)"
	else
		echo "node $node is the primary: nothing to do ($rule)"
	fi
else
	echo "node $other is neither primary nor replica of $node: nothing to do ($rule)"
fi
