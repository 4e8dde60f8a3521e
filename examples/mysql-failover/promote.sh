#!/bin/sh
# promote.sh: node $NODE (or $FROM_ENGINE) is lost; if it was the primary,
# promote its replica, the other node. Once per loss: several rules run it
# for one loss (mariadb-died, mariadb-X-lost, and a monitor rule), maybe at
# once, and the daemon retries it; so
#   1. one run at a time (lock);
#   2. nothing while the lost node still answers (a late or replayed event,
#      an engine blip): it is not lost;
#   3. nothing when the other node is the primary already (writable, no
#      source): an earlier run promoted it;
#   4. else the other node applies what it received, stops replicating,
#      becomes writable, and records the promotion in failover.promotions
#      (replicated from then on: every promotion is one row).
# Exit 1 (the daemon retries) when the other node does not answer.
set -eu
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lock
new=$(peer_of "$node")

if serving "$node"; then
	echo "node $node serves: not lost, nothing to do ($rule)"
	exit 0
fi
serving "$new" || fail "node $new does not answer either: cannot promote it yet"
if [ "$(read_only "$new")" = 0 ] && [ -z "$(source_port "$new")" ]; then
	echo "node $new is the primary already: nothing to do ($rule)"
	exit 0
fi
if [ "$(source_port "$new")" != "$(port_of "$node")" ]; then
	echo "node $new does not replicate from $node: nothing to do ($rule)"
	exit 0
fi

# Apply what was received before cutting the link (at most 30s).
sql "$new" 'STOP SLAVE IO_THREAD'
i=0
until slave_status "$new" | grep -q 'Slave has read all relay log' || [ $i -ge 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
sql "$new" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF;
	INSERT INTO failover.promotions (node, lost, rule) VALUES ('$new', '$node', '$rule')"
echo "promoted node $new: node $node lost ($rule)"
