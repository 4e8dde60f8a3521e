# lib.sh: what promote.sh and master-back.sh share. Each sources it from its
# own directory; it is no handler of its own.
#
# It checks the environment (see promote.sh) and sets:
#   docker   the docker CLI ($DOCKER, default docker);
#   id       the EVENT_ID of an event rule's run, empty for a state rule's;
#   trigger  the rule and the event (or the state) that ran the script, for
#            the logs.
# shellcheck shell=sh

docker=${DOCKER:-docker}
: "${MASTER:?}" "${SLAVE:?}" "${ENGINE_A:?}" "${ENGINE_B:?}" "${EVENTSD_RULE:?}"

if [ -n "${EVENT_ID:-}" ]; then
	id=$EVENT_ID
	trigger="$EVENTSD_RULE ($EVENT_ACTION event $EVENT_ID)"
else
	id=
	trigger="$EVENTSD_RULE (state $STATE_HASH, $STATE_COUNT running)"
fi

# master_state prints true when the master runs, false when it does not, and
# unreachable when engine a does not answer within 10s (or has no master).
master_state() {
	timeout 10 "$docker" -H "$ENGINE_A" inspect --format '{{.State.Running}}' -- "$MASTER" 2>/dev/null ||
		echo unreachable
}

# slave_log MESSAGE: a line in the slave's /failover.log (best effort).
# shellcheck disable=SC2016 # the slave's shell expands it
slave_log() {
	"$docker" -H "$ENGINE_B" exec "$SLAVE" sh -c \
		'echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $1" >> /failover.log' sh "$1" || true
}

# slave_step WHAT STEP FILE DONE RESULT NONE: the failover's one step, in the
# slave, for the event $id (none for a state rule's run):
#   - an event the slave has handled already: nothing is done;
#   - else STEP, one atomic command (mkdir or rmdir of /failover.promoted):
#     of two runs at once, one succeeds; it appends "DATE DONE by TRIGGER"
#     to FILE, and the result is RESULT; the other's result is NONE.
# The slave records $id as handled, and logs "DATE WHAT by TRIGGER: result"
# in /failover.log. Under ha: (ha.yml) the run carries EVENTSD_FENCE_TOKEN:
# a token older than the last one the slave acted on (/failover.fence) is
# refused, the step not taken; the check and the step hold one lock in the
# slave (mkdir /failover.lock). The names, ids and messages are arguments of sh, never
# part of its code.
# shellcheck disable=SC2016 # the slave's shell expands it
slave_step() {
	"$docker" -H "$ENGINE_B" exec "$SLAVE" sh -c '
		set -eu
		what=$1 step=$2 file=$3 done=$4 result=$5 none=$6 trigger=$7 id=$8 token=$9
		now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
		if [ -n "$token" ]; then
			# HA (ha.yml): the fence and the step under one lock, so that an
			# older leader that checked before a newer one acted cannot act
			# after it.
			# A lock older than 10s is a run killed while it held it.
			n=0
			until mkdir /failover.lock 2>/dev/null; do
				n=$((n + 1))
				[ "$n" -lt 100 ] || { rmdir /failover.lock 2>/dev/null || true; n=0; }
				sleep 0.1
			done
			trap "rmdir /failover.lock" EXIT
			last=$(cat /failover.fence 2>/dev/null || echo 0)
		fi
		if [ -n "$token" ] && [ "$token" -lt "$last" ]; then
			result="fence token $token older than $last, refused"
		elif [ -n "$id" ] && grep -qxF -e "$id" /failover.handled 2>/dev/null; then
			result="event already handled, nothing done"
		elif $step 2>/dev/null; then
			echo "$now $done by $trigger" >> "$file"
		else
			result=$none
		fi
		[ -z "$id" ] || echo "$id" >> /failover.handled
		case $result in "fence token"*) ;; *) [ -z "$token" ] || echo "$token" > /failover.fence ;; esac
		echo "$now $what by $trigger: $result" >> /failover.log
		echo "slave: $result"
	' sh "$1" "$2" "$3" "$4" "$5" "$6" "$trigger" "$id" "${EVENTSD_FENCE_TOKEN:-}"
}
