package fakeengine

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Engine is one fake Docker engine. It implements http.Handler. Create it with
// NewEngine; it is safe for concurrent use.
type Engine struct {
	name string
	// mode is the Docker release the engine answers as (version.go).
	mode atomic.Pointer[Mode]

	// mu guards the containers and execs. Events are emitted while holding it,
	// so that they reach subscribers in the order the state changed.
	mu         sync.Mutex
	containers map[string]*container
	byName     map[string]*container
	execs      map[string]*execInstance
	// listJSON caches the encoded container list (all=1, no filters), dropped
	// on any change: a thousand engines listed at once should not cost a
	// thousand encodings.
	listJSON []byte
	listAt   time.Time

	log eventLog

	// stall, when not nil, is closed when the engine answers again: while it
	// is set, requests get no answer and event streams go silent.
	stall atomic.Pointer[chan struct{}]
	// conns are the open connections, for faults that cut them.
	connMu sync.Mutex
	conns  map[closer]struct{}
	// reqs counts requests by route, for tests.
	reqs sync.Map // string -> *atomic.Int64
}

type closer interface{ Close() error }

// NewEngine returns an empty engine named name (its host name in /version is
// not affected; the name is for stats and logs).
func NewEngine(name string) *Engine {
	return NewEngineMode(name, DefaultMode())
}

// NewEngineMode returns an empty engine that answers as the Docker release
// of mode (see Modes).
func NewEngineMode(name string, mode Mode) *Engine {
	e := &Engine{
		name:       name,
		containers: map[string]*container{},
		byName:     map[string]*container{},
		execs:      map[string]*execInstance{},
		conns:      map[closer]struct{}{},
	}
	e.log.init()
	e.mode.Store(&mode)
	return e
}

// Name returns the engine's name.
func (e *Engine) Name() string { return e.name }

// Mode returns the Docker release the engine answers as.
func (e *Engine) Mode() Mode { return *e.mode.Load() }

// SetMode makes the engine answer as another release from its next request
// on, like an engine upgraded or downgraded in place (its containers kept);
// combine it with Crash or Server.Refuse for the restart.
func (e *Engine) SetMode(m Mode) { e.mode.Store(&m) }

// container is the engine's record of one container.
type container struct {
	id, name, image, imageID string
	cmd                      []string
	// labels are never modified after create: events share them.
	labels     map[string]string
	created    time.Time
	state      string // created, running, paused, exited, dead
	exitCode   int
	startedAt  time.Time
	finishedAt time.Time
	pid        int
	hc         *healthcheck
	health     *health
	files      map[string]bool
	// hostConfig is the HostConfig JSON inspect answers (nil: the default).
	hostConfig []byte
	execIDs    []string
	// tmpl caches the JSON of the generator's events for this container, by
	// action; reset on rename (the name is in the attributes).
	tmpl map[string]*event
}

// healthcheck is a container's health check configuration, as given (zero:
// dockerd's default).
type healthcheck struct {
	test     []string
	interval time.Duration
	timeout  time.Duration
	retries  int
}

// health is a container's health state.
type health struct {
	status        string // starting, healthy, unhealthy
	failingStreak int
	log           []probeResult
	// stop ends the monitor goroutine; nil when no monitor runs.
	stop chan struct{}
}

type probeResult struct {
	start, end time.Time
	exitCode   int
}

type execInstance struct {
	id        string
	container *container
	cmd       []string
	running   bool
	exitCode  int
}

// Container states, as dockerd names them.
const (
	stateCreated = "created"
	stateRunning = "running"
	statePaused  = "paused"
	stateExited  = "exited"
	stateDead    = "dead"
)

// apiError is an error with the HTTP status dockerd answers with.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func errNotFound(ref string) error {
	return &apiError{http.StatusNotFound, "No such container: " + ref}
}

func errConflict(format string, args ...any) error {
	return &apiError{http.StatusConflict, fmt.Sprintf(format, args...)}
}

// errNotModified is answered 304 with no body (start of a running container).
var errNotModified = &apiError{http.StatusNotModified, ""}

func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// imageID is the fake ID of an image name: stable, so the list is too.
func imageID(image string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(image); i++ {
		h = (h ^ uint64(image[i])) * 1099511628211
	}
	s := strconv.FormatUint(h, 16)
	return "sha256:" + strings.Repeat(s, 64/len(s)+1)[:64]
}

// find returns the container with this ID, name (with or without "/") or
// unique ID prefix. The caller holds e.mu.
func (e *Engine) find(ref string) (*container, error) {
	if c := e.containers[ref]; c != nil {
		return c, nil
	}
	if c := e.byName[strings.TrimPrefix(ref, "/")]; c != nil {
		return c, nil
	}
	var found *container
	if ref != "" {
		for id, c := range e.containers {
			if strings.HasPrefix(id, ref) {
				if found != nil {
					return nil, &apiError{http.StatusNotFound, "Multiple IDs found with provided prefix: " + ref}
				}
				found = c
			}
		}
	}
	if found == nil {
		return nil, errNotFound(ref)
	}
	return found, nil
}

// CreateOptions describe a container to create.
type CreateOptions struct {
	// Name without the leading slash; empty makes one up.
	Name   string
	Image  string
	Cmd    []string
	Labels map[string]string
	// Healthcheck is the Test of a health check (["CMD-SHELL", "..."] or
	// ["CMD", ...]); nil means none.
	Healthcheck []string
	// HealthInterval, HealthTimeout and HealthRetries default to dockerd's 30s, 30s, 3.
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthRetries  int
	// HostConfig is the request's HostConfig object (nil: none sent).
	HostConfig map[string]json.RawMessage
}

// Create creates a container and emits create. It returns the container's ID.
func (e *Engine) Create(o CreateOptions) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.create(o)
}

func (e *Engine) create(o CreateOptions) (string, error) {
	if o.Image == "" {
		return "", &apiError{http.StatusBadRequest, "No command specified"}
	}
	name := strings.TrimPrefix(o.Name, "/")
	id := newID()
	if name == "" {
		name = "fake_" + id[:12]
	}
	if other := e.byName[name]; other != nil {
		return "", errConflict(`Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.`, name, other.id)
	}
	labels := make(map[string]string, len(o.Labels))
	for k, v := range o.Labels {
		labels[k] = v
	}
	c := &container{
		id: id, name: name, image: o.Image, imageID: imageID(o.Image),
		cmd: append([]string(nil), o.Cmd...), labels: labels,
		created: time.Now().UTC(), state: stateCreated, files: map[string]bool{},
		hostConfig: hostConfigFor(o.HostConfig),
	}
	if len(o.Healthcheck) > 0 && o.Healthcheck[0] != "NONE" {
		c.hc = &healthcheck{test: o.Healthcheck, interval: o.HealthInterval, timeout: o.HealthTimeout, retries: o.HealthRetries}
	}
	e.containers[id] = c
	e.byName[name] = c
	e.changed()
	e.emit(c, "create", nil)
	return id, nil
}

// changed drops what is cached about the list. The caller holds e.mu.
func (e *Engine) changed() { e.listJSON = nil }

// Start starts a created or stopped container and emits start; a container
// whose command ends at once dies right after.
func (e *Engine) Start(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	return e.start(c)
}

func (e *Engine) start(c *container) error {
	switch c.state {
	case stateRunning, statePaused:
		return errNotModified
	}
	c.state = stateRunning
	c.startedAt = time.Now().UTC()
	c.pid = 1000 + int(c.startedAt.UnixNano()%30000)
	c.exitCode = 0
	if c.hc != nil {
		// initHealthMonitor: starting, with no event.
		if c.health == nil {
			c.health = &health{}
		}
		c.health.status = "starting"
		c.health.failingStreak = 0
		e.openMonitor(c)
	}
	e.changed()
	e.emit(c, "start", nil)
	if code, ok := immediateExit(c.cmd); ok {
		e.die(c, code)
	}
	return nil
}

// immediateExit reports whether a command ends as soon as it starts, and its
// status: "exit N", "true", "false", or sh -c of one of those.
func immediateExit(cmd []string) (int, bool) {
	if len(cmd) == 3 && (cmd[0] == "sh" || cmd[0] == "/bin/sh") && cmd[1] == "-c" {
		cmd = strings.Fields(cmd[2])
	}
	switch {
	case len(cmd) == 1 && cmd[0] == "true":
		return 0, true
	case len(cmd) == 1 && cmd[0] == "false":
		return 1, true
	case len(cmd) == 2 && cmd[0] == "exit":
		n, err := strconv.Atoi(cmd[1])
		return n & 0xff, err == nil
	}
	return 0, false
}

// die ends a running container's process with code and emits die. The caller
// holds e.mu.
func (e *Engine) die(c *container, code int) {
	c.state = stateExited
	c.exitCode = code
	c.pid = 0
	c.finishedAt = time.Now().UTC()
	e.closeMonitor(c)
	e.changed()
	e.emit(c, "die", map[string]string{"exitCode": strconv.Itoa(code)})
}

// Die makes a running container's process exit on its own with code.
func (e *Engine) Die(ref string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	if c.state != stateRunning && c.state != statePaused {
		return errConflict("Container %s is not running", c.id)
	}
	e.die(c, code)
	return nil
}

// signals maps signal names to Linux numbers.
var signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8,
	"KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
	"STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
	"URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31,
}

// parseSignal reads "KILL", "SIGKILL", "9" or "" (KILL).
func parseSignal(s string) (int, error) {
	if s == "" {
		return 9, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return n, nil
	}
	if n, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]; ok {
		return n, nil
	}
	return 0, &apiError{http.StatusBadRequest, "Invalid signal: " + s}
}

// Kill sends a signal ("KILL", "USR1", "15"...). The container's process
// ignores every signal but SIGKILL, which makes it die with 137.
func (e *Engine) Kill(ref, signal string) error {
	sig, err := parseSignal(signal)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	if c.state != stateRunning && c.state != statePaused {
		return errConflict("Cannot kill container: %s: Container %s is not running", ref, c.id)
	}
	e.kill(c, sig)
	return nil
}

func (e *Engine) kill(c *container, sig int) {
	e.emit(c, "kill", map[string]string{"signal": strconv.Itoa(sig)})
	if sig == 9 {
		e.die(c, 128+9)
	}
}

// Stop stops a running container as dockerd does when its process ignores
// SIGTERM: kill 15, wait timeout, kill 9, die 137, stop.
func (e *Engine) Stop(ref string, timeout time.Duration) error {
	e.mu.Lock()
	c, err := e.find(ref)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	if c.state != stateRunning && c.state != statePaused {
		e.mu.Unlock()
		return errNotModified
	}
	e.kill(c, 15)
	e.mu.Unlock()
	time.Sleep(timeout)
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.state == stateRunning || c.state == statePaused {
		e.kill(c, 9)
	}
	e.emit(c, "stop", nil)
	return nil
}

// Restart stops (if running) and starts a container: kill 15, kill 9, die,
// stop, start, restart.
func (e *Engine) Restart(ref string, timeout time.Duration) error {
	if err := e.Stop(ref, timeout); err != nil && !errors.Is(err, errNotModified) {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	if err := e.start(c); err != nil {
		return err
	}
	e.emit(c, "restart", nil)
	return nil
}

// Pause pauses a running container. Like dockerd, it stops the health
// monitor, which leaves the status unhealthy without an event.
func (e *Engine) Pause(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	switch c.state {
	case statePaused:
		return errConflict("Container %s is already paused", c.id)
	case stateRunning:
	default:
		return errConflict("Container %s is not running", c.id)
	}
	c.state = statePaused
	e.changed()
	e.emit(c, "pause", nil)
	e.closeMonitor(c)
	return nil
}

// Unpause unpauses a paused container and restarts its health monitor.
func (e *Engine) Unpause(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	if c.state != statePaused {
		return errConflict("Container %s is not paused", c.id)
	}
	c.state = stateRunning
	e.changed()
	e.emit(c, "unpause", nil)
	e.openMonitor(c)
	return nil
}

// Rename renames a container and emits rename (attribute oldName with "/").
func (e *Engine) Rename(ref, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	if newName == "" {
		return &apiError{http.StatusBadRequest, "Neither old nor new names may be empty"}
	}
	if other := e.byName[newName]; other != nil && other != c {
		return errConflict(`Conflict. The container name "/%s" is already in use by container "%s". You have to remove (or rename) that container to be able to reuse that name.`, newName, other.id)
	}
	old := c.name
	delete(e.byName, old)
	c.name = newName
	c.tmpl = nil
	e.byName[newName] = c
	e.changed()
	e.emit(c, "rename", map[string]string{"oldName": "/" + old})
	return nil
}

// Remove removes a container; a running one only with force (kill 9, die,
// destroy).
func (e *Engine) Remove(ref string, force bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	if c.state == stateRunning || c.state == statePaused {
		if !force {
			return errConflict("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.id)
		}
		e.kill(c, 9)
	}
	e.closeMonitor(c)
	e.emit(c, "destroy", nil)
	delete(e.containers, c.id)
	delete(e.byName, c.name)
	for _, x := range c.execIDs {
		delete(e.execs, x)
	}
	e.changed()
	return nil
}

// ExecCreate prepares a command in a running container and emits
// exec_create. It returns the exec's ID.
func (e *Engine) ExecCreate(ref string, cmd []string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return "", err
	}
	switch c.state {
	case stateRunning:
	case statePaused:
		return "", errConflict("Container %s is paused, unpause the container before exec", c.id)
	default:
		return "", errConflict("Container %s is not running", c.id)
	}
	x := &execInstance{id: newID(), container: c, cmd: append([]string(nil), cmd...)}
	e.execs[x.id] = x
	c.execIDs = append(c.execIDs, x.id)
	e.emit(c, "exec_create: "+strings.Join(cmd, " "), map[string]string{"execID": x.id})
	return x.id, nil
}

// ExecStart runs a prepared exec (detached): exec_start, then exec_die.
func (e *Engine) ExecStart(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.execs[id]
	if x == nil {
		return &apiError{http.StatusNotFound, "No such exec instance: " + id}
	}
	c := x.container
	if c.state != stateRunning {
		return errConflict("Container %s is not running", c.id)
	}
	e.emit(c, "exec_start: "+strings.Join(x.cmd, " "), map[string]string{"execID": x.id})
	x.exitCode = run(c.files, x.cmd)
	e.emit(c, "exec_die", map[string]string{"execID": x.id, "exitCode": strconv.Itoa(x.exitCode)})
	return nil
}

// Exec runs cmd in a running container (ExecCreate + ExecStart) and returns
// its exit status.
func (e *Engine) Exec(ref string, cmd []string) (int, error) {
	id, err := e.ExecCreate(ref, cmd)
	if err != nil {
		return -1, err
	}
	if err := e.ExecStart(id); err != nil {
		return -1, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.execs[id].exitCode, nil
}

// run interprets a command over a container's files: touch, rm, test -e,
// true, false, exit; sh -c runs the same. Anything else succeeds.
func run(files map[string]bool, cmd []string) int {
	if len(cmd) == 3 && (cmd[0] == "sh" || cmd[0] == "/bin/sh") && cmd[1] == "-c" {
		cmd = strings.Fields(cmd[2])
	}
	if len(cmd) == 0 {
		return 0
	}
	switch cmd[0] {
	case "true":
		return 0
	case "false":
		return 1
	case "exit":
		if len(cmd) > 1 {
			n, _ := strconv.Atoi(cmd[1])
			return n & 0xff
		}
		return 0
	case "touch":
		for _, p := range cmd[1:] {
			files[p] = true
		}
		return 0
	case "rm":
		status, force := 0, false
		for _, p := range cmd[1:] {
			if p == "-f" {
				force = true
				continue
			}
			if !files[p] && !force {
				status = 1
			}
			delete(files, p)
		}
		return status
	case "test", "[":
		args := cmd[1:]
		if cmd[0] == "[" && len(args) > 0 && args[len(args)-1] == "]" {
			args = args[:len(args)-1]
		}
		neg := len(args) > 0 && args[0] == "!"
		if neg {
			args = args[1:]
		}
		ok := len(args) == 2 && args[0] == "-e" && files[args[1]]
		if ok != neg {
			return 0
		}
		return 1
	}
	return 0
}

// openMonitor starts the health monitor of a running container. The caller
// holds e.mu.
func (e *Engine) openMonitor(c *container) {
	if c.hc == nil || c.health == nil || c.health.stop != nil || c.state != stateRunning {
		return
	}
	stop := make(chan struct{})
	c.health.stop = stop
	go e.monitor(c, stop)
}

// closeMonitor stops the health monitor; like dockerd, the status becomes
// unhealthy without an event. The caller holds e.mu.
func (e *Engine) closeMonitor(c *container) {
	if c.health == nil || c.health.stop == nil {
		return
	}
	close(c.health.stop)
	c.health.stop = nil
	c.health.status = "unhealthy"
}

// monitor runs the health check every interval until stop is closed.
func (e *Engine) monitor(c *container, stop chan struct{}) {
	interval := c.hc.interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		e.mu.Lock()
		select {
		case <-stop:
			e.mu.Unlock()
			return
		default:
		}
		e.probe(c)
		e.mu.Unlock()
	}
}

// probe runs a container's health check once and emits what dockerd does:
// exec_create, exec_start, exec_die, and health_status when the status
// changes. The caller holds e.mu.
func (e *Engine) probe(c *container) {
	cmd := c.hc.test[1:]
	if c.hc.test[0] == "CMD-SHELL" {
		cmd = []string{"/bin/sh", "-c", strings.Join(c.hc.test[1:], " ")}
	}
	// dockerd lists a health check's exec among ExecIDs only while it runs:
	// here it never is seen running.
	execID := newID()
	cmdline := strings.Join(cmd, " ")
	start := time.Now().UTC()
	e.emit(c, "exec_create: "+cmdline, map[string]string{"execID": execID})
	e.emit(c, "exec_start: "+cmdline, map[string]string{"execID": execID})
	code := run(c.files, cmd)
	e.emit(c, "exec_die", map[string]string{"execID": execID, "exitCode": strconv.Itoa(code)})
	h := c.health
	h.log = append(h.log, probeResult{start: start, end: time.Now().UTC(), exitCode: code})
	if len(h.log) > 5 {
		h.log = h.log[len(h.log)-5:]
	}
	old := h.status
	if code == 0 {
		h.failingStreak = 0
		h.status = "healthy"
	} else {
		h.failingStreak++
		retries := c.hc.retries
		if retries <= 0 {
			retries = 3
		}
		if h.failingStreak >= retries {
			h.status = "unhealthy"
		}
	}
	if h.status != old {
		e.changed()
		e.emit(c, "health_status: "+h.status, nil)
	}
}

// SetHealth sets a running container's health status, as a probe would, and
// emits health_status when it changes. The container need not have a health
// check (the load generator uses this).
func (e *Engine) SetHealth(ref, status string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return err
	}
	e.setHealth(c, status)
	return nil
}

func (e *Engine) setHealth(c *container, status string) {
	if c.health == nil {
		c.health = &health{}
	}
	if c.health.status == status {
		return
	}
	c.health.status = status
	e.changed()
	e.emit(c, "health_status: "+status, nil)
}

// Crash simulates dockerd killed and started again: open streams and
// connections are cut, the replay ring is emptied, and every running
// container is found exited with no event, with code 255 as dockerd 20.10
// reports a container whose process it lost with the host.
func (e *Engine) Crash() {
	e.mu.Lock()
	for _, c := range e.containers {
		if c.state == stateRunning || c.state == statePaused {
			c.state = stateExited
			c.exitCode = 255
			c.pid = 0
			c.finishedAt = time.Now().UTC()
			if c.health != nil && c.health.stop != nil {
				close(c.health.stop)
				c.health.stop = nil
				c.health.status = "unhealthy"
			}
		}
	}
	e.changed()
	e.mu.Unlock()
	e.log.reset()
	e.CloseConns()
}

// Containers returns the IDs of the containers, sorted by name.
func (e *Engine) Containers() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := make([]*container, 0, len(e.containers))
	for _, c := range e.containers {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.id
	}
	return out
}

// Stall makes the engine stop answering (on) or answer again (off): requests
// wait without an answer, connections are still accepted, and open event
// streams go silent (their events queue and are dropped by the 100 ms rule).
func (e *Engine) Stall(on bool) {
	if on {
		ch := make(chan struct{})
		e.stall.CompareAndSwap(nil, &ch)
		return
	}
	if p := e.stall.Swap(nil); p != nil {
		close(*p)
	}
}

// stalled returns a channel closed when the engine answers again, or nil.
func (e *Engine) stalled() <-chan struct{} {
	if p := e.stall.Load(); p != nil {
		return *p
	}
	return nil
}

// DropStreams ends every open event stream cleanly (the client sees EOF), as
// a proxy cutting long responses does; the engine stays healthy.
func (e *Engine) DropStreams() { e.log.endAll() }

// CloseConns closes every open connection to the engine at once.
func (e *Engine) CloseConns() {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	for c := range e.conns {
		_ = c.Close()
		delete(e.conns, c)
	}
}

func (e *Engine) trackConn(c closer, open bool) {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if open {
		e.conns[c] = struct{}{}
	} else {
		delete(e.conns, c)
	}
}

// Requests returns how many requests a route ("ping", "events", "list",
// "inspect", "version", ...) answered; "v1.52": how many were answered at
// that API version (the path's, or the mode's for none); "refused v1.41":
// how many were refused for asking for that one.
func (e *Engine) Requests(route string) int64 {
	if v, ok := e.reqs.Load(route); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (e *Engine) countRequest(route string) {
	v, ok := e.reqs.Load(route)
	if !ok {
		v, _ = e.reqs.LoadOrStore(route, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}
