#!/usr/bin/env bash
# hack/fuzz.sh: run every `go test -fuzz` target of the module for a while.
#
#   hack/fuzz.sh                      each target for $FUZZTIME (default 5s)
#   FUZZTIME=10m hack/fuzz.sh         a long run
#   hack/fuzz.sh ./informer           only the targets of these packages
#   FUZZTIME=0 hack/fuzz.sh           only list the targets
#
# Targets are the Fuzz* functions of the *_test.go files (config FuzzParse,
# informer FuzzEventStream, controller FuzzMatch). Their seed corpora are the
# f.Add calls and testdata/fuzz/FuzzXxx/ of each package (`go test` runs them
# as ordinary tests too). A crash stops the script with go test's output; the
# failing input is saved under testdata/fuzz/FuzzXxx/ of its package: fix the
# bug and commit the input as a regression seed. FUZZPARALLEL sets -parallel
# (default: GOMAXPROCS). hack/test.sh runs this script before go test.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi
FUZZTIME=${FUZZTIME:-5s}

dirs=("$@")
if ((${#dirs[@]} == 0)); then
	mapfile -t dirs < <(grep -rlE '^func Fuzz[A-Za-z0-9_]*\(' --include='*_test.go' . |
		grep -v '/testdata/' | xargs -r -n1 dirname | sort -u)
fi

parallel=()
[[ -n ${FUZZPARALLEL:-} ]] && parallel=(-parallel "$FUZZPARALLEL")

for dir in "${dirs[@]}"; do
	[[ $dir == ./* ]] || dir=./$dir
	mapfile -t targets < <(grep -hoE '^func Fuzz[A-Za-z0-9_]*\(' "$dir"/*_test.go |
		sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/' | sort -u)
	for target in "${targets[@]}"; do
		if [[ $FUZZTIME == 0 ]]; then
			echo "$dir $target"
			continue
		fi
		echo "--- fuzz $dir $target for $FUZZTIME"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "$dir"
	done
done
