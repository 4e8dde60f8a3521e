// Command docker-eventsd listens to the events of a cluster of Docker engines and
// runs a handler command when an event matches a rule of its events.yml.
//
//	docker-eventsd events.yml            # the 2014 form, same as: run -c events.yml
//	docker-eventsd run -c events.yml
//	docker-eventsd validate events.yml
//	docker-eventsd status | dead list|retry|drop     (a running daemon, through --addr)
//	docker-eventsd match -c events.yml EVENT.json    (which rules match, and why not)
//	docker-eventsd record -c events.yml -o FILE | replay -c events.yml FILE
//	docker-eventsd version
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		var ec exitCode
		if asExitCode(err, &ec) {
			os.Exit(int(ec))
		}
		fmt.Fprintln(os.Stderr, "docker-eventsd:", err)
		os.Exit(1)
	}
}
