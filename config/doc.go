// Package config loads and validates events.yml, the file that tells
// docker-eventsd which Docker engines to watch and which handlers to run.
//
// A file has two main top-level keys. cluster: names the engines, each as a URL
// (short form) or as a mapping with url, tls and labels (long form). events:
// lists the rules; a rule selects events by type and by filters on the engine,
// the container, its image, its labels and its exit code, and says what to do:
// run a shell command, log a line, or both. The 2014 format (cluster: of URLs,
// rules with type, from_engine, from_container, image_contains, command and
// log) loads unchanged.
//
// An optional third key, state:, lists state rules (StateRule): a selector
// over the cached containers of every engine (the filters of event rules
// plus a status), a trigger (changed, empty, nonempty) and timing (debounce,
// max_delay, resync, engine_down_grace), with a command to run with the
// selected set.
//
// Both kinds of rule embed one Selector (the engine and container filters)
// and one Action (command, log, timeout, retry, env), read by the same code,
// so a field means, defaults and is checked the same in both.
//
// Parse and Load decode the file into yaml.v3 nodes, so every problem is
// reported with its line and column. They do not stop at the first problem:
// the error they return is an ErrorList holding every one, in file order, each
// rendered as "events.yml:LINE:COL: field: message".
//
// ${VAR} and $VAR are expanded in engine URLs and TLS paths only. Commands are
// shell code and are left for the shell to expand.
//
// Match and ValidGlob implement the glob syntax of from_engine,
// from_container and image. Matching events against rules is the
// controller's job; this package only checks that rules make sense.
//
// docs/CONFIG.md is the reference for the file format.
package config
