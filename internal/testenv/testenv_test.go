package testenv_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestRunContainerOnEveryEngine checks that every engine runs the test image
// and lists the container.
func TestRunContainerOnEveryEngine(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cname := fmt.Sprintf("testenv-%s-%d", name, time.Now().UnixNano())
			id := testenv.RunContainer(t, url, cname, img, "sleep", "600")
			got := testenv.Docker(t, url, "ps", "-q", "--no-trunc", "--filter", "name=^/"+cname+"$")
			if got != id {
				t.Fatalf("docker ps on %s (%s) = %q, want %q", name, url, got, id)
			}
			if out := testenv.Docker(t, url, "exec", cname, "echo", "hi"); out != "hi" {
				t.Errorf("exec echo = %q", out)
			}
			// Each engine reports its own name and data root.
			info := testenv.Docker(t, url, "info", "--format", "{{.Name}} {{.DockerRootDir}}")
			if !strings.HasPrefix(info, "eventsd-"+name+" ") || !strings.HasSuffix(info, "/"+name+"/root") {
				t.Errorf("docker info = %q", info)
			}
		})
	}
}

func TestEnginesSkipsWithoutEnginesOutsideCI(t *testing.T) {
	t.Setenv("EVENTSD_TEST_ENGINES", "")
	t.Setenv("CI", "")
	ran := false
	t.Run("skips", func(t *testing.T) {
		defer func() { ran = true }()
		testenv.Engines(t)
		t.Error("Engines returned without engines")
	})
	if !ran {
		t.Fatal("subtest did not run")
	}
}
