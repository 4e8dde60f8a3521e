package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestContainerDataNeverRunsAsCode starts a container whose labels are full of
// shell syntax and checks that the handler gets them as literal values and that
// nothing they contain was executed.
func TestContainerDataNeverRunsAsCode(t *testing.T) {
	engines := testenv.Engines(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	hostile := map[string]string{
		"subst":    "$(touch " + marker + ")",
		"backtick": "`touch " + marker + "`",
		"semi":     "x; touch " + marker,
		"quotes":   `"'` + "\"; touch " + marker + "; echo '",
		"newline":  "a\ntouch " + marker,
		"long":     strings.Repeat("$(touch "+marker+")", 500),
	}
	cfg := clusterYAML(engines) + `
events:
  - name: hostile
    type: start
    from_engine: a
    labels: {hostile: ""}
    command: 'echo "container $FROM_CONTAINER image $CONTAINER_IMAGE" > /dev/null; ` + recordCmd + `'
`
	d := startDaemon(t, cfg, len(engines))
	args := []string{"--label", "hostile=1"}
	for k, v := range hostile {
		args = append(args, "--label", k+"="+v)
	}
	name := unique("hostile")
	args = append(args, testenv.Image(t), "sleep", "600")
	testenv.RunContainer(t, engines["a"], name, args...)
	r := d.waitRun("hostile", map[string]string{"FROM_CONTAINER": name}, 30*time.Second)
	ct, _ := r.Stdin["container"].(map[string]any)
	labels, _ := ct["labels"].(map[string]any)
	for k, v := range hostile {
		if labels[k] != v {
			t.Errorf("label %s reached the handler as %q, want %q", k, labels[k], v)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a label's content was executed")
	}
}
