package contract_test

import (
	"github.com/moby/moby/client"
)

// run is the scenario: every action docker-eventsd follows, on containers
// that ignore SIGUSR1 and SIGTERM, one with a health check.
func (s *scenario) run() {
	// A label named "name" is shadowed in the event attributes, never in
	// the informer's cache.
	s.create("web", trap, map[string]string{"lb": "web", "name": "shadowed"}, true)
	s.expect("create")
	s.start("web")
	s.expect("start", healthy)
	s.cache("with web running and healthy")

	s.kill("web", "USR1")
	s.expect("kill")
	s.do("pause", "web", func(id string) error {
		return errOf(s.cli.ContainerPause(s.ctx, id, client.ContainerPauseOptions{}))
	})
	s.expect("pause")
	s.do("unpause", "web", func(id string) error {
		return errOf(s.cli.ContainerUnpause(s.ctx, id, client.ContainerUnpauseOptions{}))
	})
	// Pausing stops the health monitor, which leaves the status unhealthy
	// without an event; the first check after unpause reports healthy again.
	s.expectUnpause("web")
	s.do("rename", "web", func(id string) error {
		return errOf(s.cli.ContainerRename(s.ctx, id, client.ContainerRenameOptions{NewName: s.name("web2")}))
	})
	s.expect("rename")

	// Exec noise (the engine filters it) makes the check fail, then pass.
	s.exec("web2", "touch", "/sick")
	s.expect("health_status: unhealthy")
	s.exec("web2", "rm", "/sick")
	s.expect(healthy)

	s.kill("web2", "KILL")
	s.expect("kill", "die")
	s.cache("with web2 killed")
	s.remove("web2", false)
	s.expect("destroy")

	// A container whose command ends at once with a status.
	s.create("quitter", []string{"sh", "-c", "exit 3"}, nil, false)
	s.expect("create")
	s.start("quitter")
	s.expect("start", "die")

	// Restart of a process that ignores SIGTERM, then a forced removal.
	s.create("restarted", trap, map[string]string{"role": "db"}, false)
	s.expect("create")
	s.start("restarted")
	s.expect("start")
	s.waitCommand("restarted")
	s.do("restart", "restarted", func(id string) error {
		zero := 0
		return errOf(s.cli.ContainerRestart(s.ctx, id, client.ContainerRestartOptions{Timeout: &zero}))
	})
	s.expect("kill", "kill", "die", "stop", "start", "restart")
	s.cache("after the restart")
	s.remove("restarted", true)
	s.expect("kill", "die", "destroy")
	s.remove("quitter", false)
	s.expect("destroy")
	s.cache("at the end")
}

func (s *scenario) start(name string) {
	s.do("start", name, func(id string) error {
		return errOf(s.cli.ContainerStart(s.ctx, id, client.ContainerStartOptions{}))
	})
}

func (s *scenario) kill(name, signal string) {
	s.do("kill -s "+signal, name, func(id string) error {
		return errOf(s.cli.ContainerKill(s.ctx, id, client.ContainerKillOptions{Signal: signal}))
	})
}

func (s *scenario) remove(name string, force bool) {
	s.do("remove", name, func(id string) error {
		return errOf(s.cli.ContainerRemove(s.ctx, id, client.ContainerRemoveOptions{Force: force}))
	})
}
