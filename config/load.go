package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultDockerHost is the engine URL of Default when $DOCKER_HOST is unset.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// extensionPrefix starts the top-level keys that Parse ignores, so that
// they can hold YAML anchors for rules and engines to merge (<<: *name).
const extensionPrefix = "x-"

// DefaultEngineName is the name of the one engine of Default.
const DefaultEngineName = "local"

// Loader loads config files. The zero value is ready to use and reads
// variables from the process environment.
type Loader struct {
	// LookupEnv resolves the variables of ${VAR} expansion and the Docker
	// CLI's variables in Default. nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool)
}

// Load reads and parses the config file at path, with the process
// environment. See Loader.Parse.
func Load(path string) (*Config, error) {
	return Loader{}.Load(path)
}

// Parse parses the config in data, with the process environment. See
// Loader.Parse.
func Parse(file string, data []byte) (*Config, error) {
	return Loader{}.Parse(file, data)
}

// Default returns the config used when there is no file: one engine named
// "local" at $DOCKER_HOST (unix:///var/run/docker.sock when unset), with TLS
// as DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH say, and no rules,
// so that every event is logged as uncaught. See Loader.FromEnv.
func Default() *Config {
	return Loader{}.Default()
}

// Load reads and parses the config file at path. A read failure is returned
// wrapped; problems in the file are returned as an ErrorList.
func (l Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return l.Parse(path, data)
}

// Parse parses and validates the config in data; file names it in messages
// and in Config.File. On failure it returns a nil Config and an ErrorList of
// every problem found, in file order.
func (l Loader) Parse(file string, data []byte) (*Config, error) {
	p := &parser{
		file:    file,
		data:    data,
		lookup:  l.lookupEnv(),
		merging: make(map[*yaml.Node]bool),
	}
	doc, err := p.decode()
	if err != nil {
		return nil, ErrorList{err}
	}
	p.maxVisits = 16*countNodes(doc) + 1000
	cfg := p.config(doc)
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return cfg, nil
}

// Default returns the config used when there is no file: one engine named
// "local", described by the Docker CLI's environment (see FromEnv), and no
// rules. A variable FromEnv refuses is taken as it is: the engine's client
// reports it.
func (l Loader) Default() *Config {
	cfg, _ := l.FromEnv()
	return cfg
}

func (l Loader) lookupEnv() func(string) (string, bool) {
	if l.LookupEnv != nil {
		return l.LookupEnv
	}
	return os.LookupEnv
}

// decode parses data into the node of its one document; a file with no
// document gives nil. A YAML syntax error, or a second document, is returned
// as the file's only problem.
func (p *parser) decode() (*yaml.Node, *Error) {
	dec := yaml.NewDecoder(bytes.NewReader(p.data))
	var doc yaml.Node
	switch err := decodeNode(dec, &doc); {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, p.syntaxError(err)
	}
	var next yaml.Node
	switch err := decodeNode(dec, &next); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, p.syntaxError(err)
	}
	return nil, &Error{File: p.file, Line: max(next.Line, 1), Col: max(next.Column, 1),
		Msg: "a second YAML document: the file must hold exactly one"}
}

// decodeNode is dec.Decode, with a panic inside yaml.v3 turned into an error.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// countNodes returns the number of nodes in the tree under n, not following
// aliases.
func countNodes(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	count := 0
	stack := []*yaml.Node{n}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		count++
		stack = append(stack, top.Content...)
	}
	return count
}

// config checks the document node and builds the Config.
func (p *parser) config(doc *yaml.Node) *Config {
	cfg := &Config{File: p.file}
	var root *yaml.Node
	if doc != nil && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	pairs, top, ok := p.mapping(root, "", "a mapping with cluster: and events:")
	if !ok {
		return cfg
	}
	var clusterKey, clusterVal, eventsVal, stateVal, discoveryVal, monitorsVal *yaml.Node
	var haKey, haVal *yaml.Node
	for _, kv := range pairs {
		switch kv.name {
		case "cluster":
			clusterKey, clusterVal = kv.key, kv.val
		case "events":
			eventsVal = kv.val
		case "state":
			stateVal = kv.val
		case "discovery":
			discoveryVal = kv.val
		case "ha":
			haKey, haVal = kv.key, kv.val
		case "monitors":
			monitorsVal = kv.val
		default:
			if strings.HasPrefix(kv.name, extensionPrefix) {
				continue // free for YAML anchors, as in Compose files
			}
			p.unknownField(kv, "", []string{"cluster", "discovery", "events", "state", "monitors", "ha", extensionPrefix + "..."})
		}
	}
	if clusterKey == nil {
		clusterKey = top
	}
	// The cluster goes first, whatever the file order: rules refer to it.
	var names []string
	// With discovery:, cluster: may be left out or empty (discovery.go).
	p.openCluster = p.hasDiscovery(discoveryVal)
	cfg.Discovery = p.discovery(discoveryVal)
	if !p.openCluster || !p.isEmptyCluster(clusterVal) {
		cfg.Engines, names = p.cluster(clusterKey, clusterVal)
	}
	// Monitors before the rules: from_monitor: and monitors: name them.
	cfg.Monitors = p.monitors(monitorsVal, names)
	p.monitorList = cfg.Monitors
	cfg.Rules = p.rules(eventsVal, names)
	cfg.StateRules = p.stateRules(stateVal, names)
	if haKey != nil {
		cfg.HA = p.ha(haKey, haVal)
	}
	return cfg
}
