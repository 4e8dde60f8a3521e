#!/bin/sh
# promote.sh: promote the slave to master, once per loss of the master.
#
# docker-eventsd runs it for two rules (events.yml), and both may run for one
# loss, even at the same time:
#   master-died  the event rule: the master's process died (fast path);
#   master-lost  the state rule: no master is running, whatever the reason
#                (its engine is down, an event was missed, the daemon was
#                restarted).
# So it must be idempotent, and it is:
#   1. it does nothing while the master runs: a late event (a retry, or a die
#      replayed after the engine came back) never promotes a live master's
#      slave;
#   2. the promotion is one atomic step inside the slave (mkdir of a marker
#      directory): of two runs at once, one promotes, the other sees it done;
#   3. an event is handled once: the slave records each EVENT_ID it handled
#      (the same for every attempt of one event, and when the engine replays
#      it), so an old die retried after the master came back is dropped.
# A state rule's run has no EVENT_ID and needs none: the daemon does not run
# it again for the set of its last successful run, and step 2 holds. Its
# STATE_HASH identifies the set, not the run (an empty set always has the
# same hash), so it is only logged.
#
# Environment: MASTER and SLAVE, the containers' names (the rules' env:);
# ENGINE_A and ENGINE_B, the engines' URLs (set by docker-eventsd); DOCKER,
# the docker CLI (default: docker).
#
# What "promote" does here is record it in the slave: one line in /promoted.
# With MySQL it would be, in the slave: STOP REPLICA; RESET REPLICA ALL;
# SET GLOBAL read_only = OFF; then pointing the clients at it.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# 1. Is the master really gone? An engine that does not answer within 10s
# counts as gone: the state rule only calls us once it has been down for its
# engine_down_grace.
if [ "$(master_state)" = true ]; then
	echo "master $MASTER is running: nothing to do"
	slave_log "promote by $trigger: master running, nothing done"
	exit 0
fi

# 2. and 3., inside the slave.
slave_step promote "mkdir /failover.promoted" /promoted promoted promoted "already promoted, nothing done"
