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

docker=${DOCKER:-docker}
: "${MASTER:?}" "${SLAVE:?}" "${ENGINE_A:?}" "${ENGINE_B:?}" "${EVENTSD_RULE:?}"

if [ -n "${EVENT_ID:-}" ]; then
	id=$EVENT_ID
	trigger="$EVENTSD_RULE ($EVENT_TYPE event $EVENT_ID)"
else
	id=
	trigger="$EVENTSD_RULE (state $STATE_HASH, $STATE_COUNT running)"
fi

# A start event can be late (a retry): act only if the master runs now.
running=$(timeout 10 "$docker" -H "$ENGINE_A" inspect --format '{{.State.Running}}' -- "$MASTER" 2>/dev/null) ||
	running=unreachable
if [ "$running" != true ]; then
	echo "master $MASTER is not running ($running): nothing to do"
	# shellcheck disable=SC2016 # the slave's shell expands it
	"$docker" -H "$ENGINE_B" exec "$SLAVE" sh -c \
		'echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $1" >> /failover.log' sh \
		"master back by $trigger: master not running, nothing done" || true
	exit 0
fi

# In the slave; the names and ids are arguments of sh, never part of its code.
# shellcheck disable=SC2016 # the slave's shell expands it
"$docker" -H "$ENGINE_B" exec "$SLAVE" sh -c '
	set -eu
	trigger=$1 id=$2
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	if [ -n "$id" ] && grep -qxF -e "$id" /failover.handled 2>/dev/null; then
		result="event already handled, nothing done"
	elif rmdir /failover.promoted 2>/dev/null; then
		echo "$now master back, slave demoted by $trigger" >> /demoted
		result=demoted
	else
		result="slave not promoted, nothing done"
	fi
	[ -z "$id" ] || echo "$id" >> /failover.handled
	echo "$now master back by $trigger: $result" >> /failover.log
	echo "slave: $result"
' sh "$trigger" "$id"
