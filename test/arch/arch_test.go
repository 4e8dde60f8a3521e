// Package arch_test checks the shape of the module that issue 9 asked for:
// imports flow one way (cmd → daemon → controller, informer, reconcile,
// checkpoint → config), product packages (and their tests) import nothing of
// internal/ or test/, no Go package lives under hack/, and no product file
// is over 500 lines. It reads the module with `go list`.
package arch_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/samalba/docker-eventsd"

// allowed lists, for every product package, the packages of the module it
// may import. A new edge is a change of the architecture: add it here on
// purpose, and to docs/ARCHITECTURE.md.
var allowed = map[string][]string{
	"cmd/docker-eventsd":        {"config", "daemon", "endpoint", "metrics"},
	"endpoint":                  {"daemon"},
	"daemon":                    {"checkpoint", "config", "controller", "discovery", "ha", "health", "informer", "metrics", "monitor", "reconcile"},
	"discovery":                 {"config"},
	"monitor":                   {"config", "informer", "reconcile"},
	"controller":                {"config", "health", "informer", "metrics", "reconcile"},
	"ha":                        {"config"},
	"health":                    {},
	"metrics":                   {},
	"informer":                  {"config", "informer/eventstream"},
	"informer/eventstream":      {},
	"reconcile":                 {},
	"checkpoint":                {},
	"config":                    {},
	"controller/controllertest": {"reconcile"},
	"informer/informertest":     {"informer/eventstream"},
}

// pkg is what `go list` says of one package.
type pkg struct {
	path    string // relative to the module
	dir     string
	imports []string // module packages, relative; non-test files
	tests   []string // module packages imported by its tests
	files   []string // non-test Go files
}

func list(t *testing.T) (root string, pkgs []pkg) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{.Dir}}|{{join .Imports " "}}|{{join .TestImports " "}} {{join .XTestImports " "}}|{{join .GoFiles " "}}`,
		module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rel := func(list string) []string {
		var r []string
		for _, p := range strings.Fields(list) {
			if p == module || strings.HasPrefix(p, module+"/") {
				r = append(r, strings.TrimPrefix(strings.TrimPrefix(p, module), "/"))
			}
		}
		return r
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != 5 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		p := pkg{path: strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/"), dir: f[1],
			imports: rel(f[2]), tests: rel(f[3]), files: strings.Fields(f[4])}
		if p.path == "" {
			root = p.dir
		}
		pkgs = append(pkgs, p)
	}
	if root == "" {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			t.Fatalf("go list -m: %v", err)
		}
		root = strings.TrimSpace(string(out))
	}
	return root, pkgs
}

// infra reports whether a package is test infrastructure (internal/, test/).
func infra(path string) bool {
	return strings.HasPrefix(path, "internal/") || strings.HasPrefix(path, "test/")
}

func TestProductImportsFlowOneWay(t *testing.T) {
	_, pkgs := list(t)
	for _, p := range pkgs {
		if infra(p.path) {
			continue
		}
		want, ok := allowed[p.path]
		if !ok {
			t.Errorf("product package %s is not in the allowed import graph of this test (and docs/ARCHITECTURE.md)", p.path)
			continue
		}
		for _, imp := range p.imports {
			if !slices.Contains(want, imp) {
				t.Errorf("%s imports %s: not an allowed edge (allowed: %v)", p.path, imp, want)
			}
		}
	}
}

func TestProductTestsImportNoTestInfrastructureUnderTest(t *testing.T) {
	_, pkgs := list(t)
	for _, p := range pkgs {
		if infra(p.path) {
			continue
		}
		for _, imp := range append(slices.Clone(p.imports), p.tests...) {
			if strings.HasPrefix(imp, "test/") {
				t.Errorf("%s (or its tests) imports %s: core packages import no test/ package", p.path, imp)
			}
			if strings.HasPrefix(imp, "internal/") && slices.Contains(p.imports, imp) {
				t.Errorf("%s imports %s outside its tests: internal/ is test infrastructure", p.path, imp)
			}
		}
	}
}

func TestNoGoPackageUnderHack(t *testing.T) {
	root, pkgs := list(t)
	for _, p := range pkgs {
		if p.path == "hack" || strings.HasPrefix(p.path, "hack/") {
			t.Errorf("Go package %s under hack/: hack/ holds scripts only", p.path)
		}
	}
	err := filepath.WalkDir(filepath.Join(root, "hack"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
			t.Errorf("Go file %s under hack/", path)
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

func TestNoProductFileOver500Lines(t *testing.T) {
	_, pkgs := list(t)
	for _, p := range pkgs {
		if infra(p.path) {
			continue
		}
		for _, f := range p.files {
			b, err := os.ReadFile(filepath.Join(p.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(b, []byte("\n")); n > 500 {
				t.Errorf("%s/%s has %d lines, over 500", p.path, f, n)
			}
		}
	}
}
