#!/bin/sh
# report.sh: write the cluster's containers, per engine, to report.json and
# report.csv in $REPORT_DIR (default: the current directory).
#
# docker-eventsd runs it for the state rule cluster-report (events.yml) with
# every container of every engine, as a JSON array on stdin and in the file
# $EVENTSD_STATE_FILE, sorted by engine, then name. By hand:
#
#     echo '[]' | ./report.sh
#
# Each file is written to a temporary name in the same directory, then
# renamed over the old one: a reader sees the old report or the new one,
# never half of one.
#
# report.json: {"generated": TIME, "hash": STATE_HASH, "count": N,
#               "engines": {"a": {"running": 2, "exited": 1}, ...},
#               "containers": [the set, as docker-eventsd gave it]}
# report.csv:  engine,name,id,image,status,state,health,exit_code,created
#              (see state-to-csv.awk)
set -eu

dir=${REPORT_DIR:-.}
here=$(dirname "$0")
mkdir -p "$dir"

json=$(mktemp "$dir/.report.json.XXXXXX")
csv=$(mktemp "$dir/.report.csv.XXXXXX")
input=
trap 'rm -f "$json" "$csv" ${input:+"$input"}' EXIT
state=${EVENTSD_STATE_FILE:-}
if [ -z "$state" ]; then
	input=$(mktemp "$dir/.report.in.XXXXXX")
	cat >"$input"
	state=$input
fi

LC_ALL=C awk -f "$here/state-to-csv.awk" "$state" >"$csv"

# Containers per engine and status, from the CSV: engine names and statuses
# hold no comma and no quote.
engines=$(LC_ALL=C awk -F, '
	NR > 1 {
		if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 }
		if (!(($1, $5) in count)) statuses[$1] = statuses[$1] " " $5
		count[$1, $5]++
	}
	END {
		printf "{"
		for (i = 1; i <= n; i++) {
			e = order[i]
			printf "%s\"%s\":{", (i > 1 ? "," : ""), e
			k = split(substr(statuses[e], 2), st, " ")
			for (j = 1; j <= k; j++) printf "%s\"%s\":%d", (j > 1 ? "," : ""), st[j], count[e, st[j]]
			printf "}"
		}
		printf "}"
	}' "$csv")

{
	printf '{"generated":"%s","hash":"%s","count":%d,"engines":%s,"containers":' \
		"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${STATE_HASH:-}" "${STATE_COUNT:-$(($(wc -l <"$csv") - 1))}" "$engines"
	# The set is one line of JSON: no line break inside it to keep.
	tr -d '\n' <"$state"
	printf '}\n'
} >"$json"

chmod 644 "$json" "$csv"
mv -f "$json" "$dir/report.json"
mv -f "$csv" "$dir/report.csv"
echo "report: $engines"
