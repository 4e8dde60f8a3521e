#!/bin/sh
# log-event.sh: append one line per event to $REPORT_DIR/events.log (default:
# the current directory):
#
#     TIME ENGINE ACTION CONTAINER [exit=CODE] [synthetic] id=EVENT_ID
#
# ACTION is the action without Docker's ": ..." suffix (health_status, not
# "health_status: healthy"), the word the rule's type: names; $EVENT_TYPE is
# the kind of object (container; engine for engine_down and engine_up).
#
# docker-eventsd runs it for the event rule event-log (events.yml). Delivery
# is at least once: a line can repeat (same id=) if the append succeeded and
# the handler was still retried; dedupe by id when reading. synthetic marks
# events the daemon made up: engine_down and engine_up, and the transitions it
# inferred after losing an engine's stream (a die it did not see).
set -eu

dir=${REPORT_DIR:-.}
mkdir -p "$dir"
action=${EVENT_ACTION%%:*}
line="$EVENT_TIME $FROM_ENGINE $action ${FROM_CONTAINER:--}"
if [ "$action" = die ]; then line="$line exit=$CONTAINER_EXIT_CODE"; fi
if [ "$EVENT_SYNTHETIC" = 1 ]; then line="$line synthetic"; fi
# One short write with O_APPEND: lines of handlers running at once do not mix.
printf '%s id=%s\n' "$line" "$EVENT_ID" >>"$dir/events.log"
