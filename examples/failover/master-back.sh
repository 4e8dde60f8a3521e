#!/bin/sh
# master-back.sh: the master runs again; undo the promotion of the slave.
#
# docker-eventsd runs it for two rules (events.yml), and both may run for one
# return of the master:
#   master-started  the event rule: the master started;
#   master-running  the state rule: a master is running again (also at the
#                   daemon's start-up when it runs: then there is nothing to
#                   undo).
# Like promote.sh it is idempotent: it does nothing unless the master runs
# now; the demotion is one atomic step in the slave (rmdir of the marker
# directory promote.sh made), so it happens once; each EVENT_ID is handled
# once.
#
# Environment: as promote.sh.
#
# What "demote" does here is record it in the slave: one line in /demoted,
# and the slave is a slave again, to be promoted at the next loss. With MySQL
# this is where the old master would be made a replica of the new one (or
# the slave of the old master again), and the clients pointed at the master.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# A start event can be late (a retry): act only if the master runs now.
running=$(master_state)
if [ "$running" != true ]; then
	echo "master $MASTER is not running ($running): nothing to do"
	slave_log "master back by $trigger: master not running, nothing done"
	exit 0
fi

# In the slave.
slave_step "master back" "rmdir /failover.promoted" /demoted "master back, slave demoted" demoted "slave not promoted, nothing done"
