package fakeengine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The JSON below mirrors what dockerd 20.10.24 (API 1.41) answers, field for
// field and in the same order (test/contract compares the key sets with a
// real engine's). Fields the fake has no notion of hold a real engine's
// values for a container with --network none. inspectFor leaves out what
// API 1.52 dropped (see Mode).

// fakeNetworkID is the ID of the "none" network.
const fakeNetworkID = "0000000000000000000000000000000000000000000000000000000000000001"

type networkJSON struct {
	IPAMConfig          *struct{}         `json:"IPAMConfig"`
	Links               []string          `json:"Links"`
	Aliases             []string          `json:"Aliases"`
	NetworkID           string            `json:"NetworkID"`
	EndpointID          string            `json:"EndpointID"`
	Gateway             string            `json:"Gateway"`
	IPAddress           string            `json:"IPAddress"`
	IPPrefixLen         int               `json:"IPPrefixLen"`
	IPv6Gateway         string            `json:"IPv6Gateway"`
	GlobalIPv6Address   string            `json:"GlobalIPv6Address"`
	GlobalIPv6PrefixLen int               `json:"GlobalIPv6PrefixLen"`
	MacAddress          string            `json:"MacAddress"`
	DriverOpts          map[string]string `json:"DriverOpts"`
}

func noneNetwork(c *container) map[string]networkJSON {
	n := networkJSON{}
	if c.state == stateRunning || c.state == statePaused {
		n.NetworkID = fakeNetworkID
		n.EndpointID = c.id[:32] + c.id[:32]
	} else if c.state == stateExited && !c.startedAt.IsZero() {
		n.NetworkID = fakeNetworkID
	}
	return map[string]networkJSON{"none": n}
}

// summaryJSON is an item of GET /containers/json.
type summaryJSON struct {
	ID              string            `json:"Id"`
	Names           []string          `json:"Names"`
	Image           string            `json:"Image"`
	ImageID         string            `json:"ImageID"`
	Command         string            `json:"Command"`
	Created         int64             `json:"Created"`
	Ports           []struct{}        `json:"Ports"`
	Labels          map[string]string `json:"Labels"`
	State           string            `json:"State"`
	Status          string            `json:"Status"`
	HostConfig      struct{ NetworkMode string }
	NetworkSettings struct {
		Networks map[string]networkJSON
	}
	Mounts []struct{} `json:"Mounts"`
}

func summary(c *container, now time.Time) summaryJSON {
	s := summaryJSON{
		ID: c.id, Names: []string{"/" + c.name}, Image: c.image, ImageID: c.imageID,
		Command: commandLine(c.cmd), Created: c.created.Unix(), Ports: []struct{}{},
		Labels: c.labels, State: c.state, Status: statusText(c, now), Mounts: []struct{}{},
	}
	s.HostConfig.NetworkMode = "none"
	s.NetworkSettings.Networks = noneNetwork(c)
	return s
}

// commandLine renders a command the way the list does: arguments with spaces
// in single quotes.
func commandLine(cmd []string) string {
	if len(cmd) == 0 {
		return ""
	}
	args := make([]string, 0, len(cmd)-1)
	for _, a := range cmd[1:] {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		args = append(args, a)
	}
	if len(args) == 0 {
		return cmd[0]
	}
	return cmd[0] + " " + strings.Join(args, " ")
}

// statusText is the list's Status: "Up 3 seconds (healthy)", "Exited (137) 2
// seconds ago"...
func statusText(c *container, now time.Time) string {
	switch c.state {
	case stateCreated:
		return "Created"
	case stateRunning, statePaused:
		s := "Up " + humanDuration(now.Sub(c.startedAt))
		switch {
		case c.state == statePaused:
			s += " (Paused)"
		case c.health != nil && c.health.status == "starting":
			s += " (health: starting)"
		case c.health != nil && c.health.status != "":
			s += " (" + c.health.status + ")"
		}
		return s
	case stateDead:
		return "Dead"
	}
	if c.finishedAt.IsZero() {
		return "Exited (" + strconv.Itoa(c.exitCode) + ")"
	}
	return "Exited (" + strconv.Itoa(c.exitCode) + ") " + humanDuration(now.Sub(c.finishedAt)) + " ago"
}

// humanDuration is go-units' HumanDuration, which dockerd uses in Status.
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

// hostConfigJSON is the HostConfig dockerd 20.10 reports for a container
// created through the API with only {"NetworkMode":"none"}: what the client
// sent, with the daemon's defaults. (The docker CLI sends more: empty lists
// where this has null; Create keeps what the request sets.)
const hostConfigJSON = `{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"none","PortBindings":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":null,"DnsOptions":null,"DnsSearch":null,"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}`

// hostConfigFor returns the HostConfig of a container created with the
// request's HostConfig (nil: none sent): the template, with the fields of
// the template that the request sets taken from it. Fields dockerd 20.10
// does not know are ignored, as it ignores them.
func hostConfigFor(req map[string]json.RawMessage) json.RawMessage {
	if len(req) == 0 {
		return json.RawMessage(hostConfigJSON)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(hostConfigJSON), &m)
	for k, v := range req {
		if _, known := m[k]; !known || k == "MaskedPaths" || k == "ReadonlyPaths" || string(v) == "null" {
			continue // unknown to 20.10, the daemon's own, or unset: the default stays
		}
		if k == "LogConfig" {
			var lc struct{ Type string }
			if json.Unmarshal(v, &lc) != nil || lc.Type == "" {
				continue // no log driver given: the daemon's default
			}
		}
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

type healthLogJSON struct {
	Start    string `json:"Start"`
	End      string `json:"End"`
	ExitCode int    `json:"ExitCode"`
	Output   string `json:"Output"`
}

type healthJSON struct {
	Status        string          `json:"Status"`
	FailingStreak int             `json:"FailingStreak"`
	Log           []healthLogJSON `json:"Log"`
}

type stateJSON struct {
	Status     string      `json:"Status"`
	Running    bool        `json:"Running"`
	Paused     bool        `json:"Paused"`
	Restarting bool        `json:"Restarting"`
	OOMKilled  bool        `json:"OOMKilled"`
	Dead       bool        `json:"Dead"`
	Pid        int         `json:"Pid"`
	ExitCode   int         `json:"ExitCode"`
	Error      string      `json:"Error"`
	StartedAt  string      `json:"StartedAt"`
	FinishedAt string      `json:"FinishedAt"`
	Health     *healthJSON `json:"Health,omitempty"`
}

type healthcheckJSON struct {
	Test     []string      `json:"Test"`
	Interval time.Duration `json:"Interval,omitempty"`
	Timeout  time.Duration `json:"Timeout,omitempty"`
	Retries  int           `json:"Retries,omitempty"`
}

type configJSON struct {
	Hostname     string           `json:"Hostname"`
	Domainname   string           `json:"Domainname"`
	User         string           `json:"User"`
	AttachStdin  bool             `json:"AttachStdin"`
	AttachStdout bool             `json:"AttachStdout"`
	AttachStderr bool             `json:"AttachStderr"`
	Tty          bool             `json:"Tty"`
	OpenStdin    bool             `json:"OpenStdin"`
	StdinOnce    bool             `json:"StdinOnce"`
	Env          []string         `json:"Env"`
	Cmd          []string         `json:"Cmd"`
	Healthcheck  *healthcheckJSON `json:"Healthcheck,omitempty"`
	Image        string           `json:"Image"`
	Volumes      map[string]any   `json:"Volumes"`
	WorkingDir   string           `json:"WorkingDir"`
	Entrypoint   []string         `json:"Entrypoint"`
	// OnBuild is null up to API 1.51 and left out when empty from 1.52 on.
	OnBuild *[]string         `json:"OnBuild,omitempty"`
	Labels  map[string]string `json:"Labels"`
}

type networkSettingsJSON struct {
	Bridge                 string                 `json:"Bridge"`
	SandboxID              string                 `json:"SandboxID"`
	HairpinMode            bool                   `json:"HairpinMode"`
	LinkLocalIPv6Address   string                 `json:"LinkLocalIPv6Address"`
	LinkLocalIPv6PrefixLen int                    `json:"LinkLocalIPv6PrefixLen"`
	Ports                  map[string]any         `json:"Ports"`
	SandboxKey             string                 `json:"SandboxKey"`
	SecondaryIPAddresses   []string               `json:"SecondaryIPAddresses"`
	SecondaryIPv6Addresses []string               `json:"SecondaryIPv6Addresses"`
	EndpointID             string                 `json:"EndpointID"`
	Gateway                string                 `json:"Gateway"`
	GlobalIPv6Address      string                 `json:"GlobalIPv6Address"`
	GlobalIPv6PrefixLen    int                    `json:"GlobalIPv6PrefixLen"`
	IPAddress              string                 `json:"IPAddress"`
	IPPrefixLen            int                    `json:"IPPrefixLen"`
	IPv6Gateway            string                 `json:"IPv6Gateway"`
	MacAddress             string                 `json:"MacAddress"`
	Networks               map[string]networkJSON `json:"Networks"`
}

// inspectJSON is the answer of GET /containers/{id}/json.
type inspectJSON struct {
	ID              string          `json:"Id"`
	Created         string          `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           stateJSON       `json:"State"`
	Image           string          `json:"Image"`
	ResolvConfPath  string          `json:"ResolvConfPath"`
	HostnamePath    string          `json:"HostnamePath"`
	HostsPath       string          `json:"HostsPath"`
	LogPath         string          `json:"LogPath"`
	Name            string          `json:"Name"`
	RestartCount    int             `json:"RestartCount"`
	Driver          string          `json:"Driver"`
	Platform        string          `json:"Platform"`
	MountLabel      string          `json:"MountLabel"`
	ProcessLabel    string          `json:"ProcessLabel"`
	AppArmorProfile string          `json:"AppArmorProfile"`
	ExecIDs         []string        `json:"ExecIDs"`
	HostConfig      json.RawMessage `json:"HostConfig"`
	GraphDriver     struct {
		Data map[string]string `json:"Data"`
		Name string            `json:"Name"`
	} `json:"GraphDriver"`
	Mounts []struct{} `json:"Mounts"`
	Config configJSON `json:"Config"`
	// NetworkSettings is a networkSettingsJSON, or from API 1.52 on a
	// networkSettings152JSON.
	NetworkSettings any `json:"NetworkSettings"`
}

// networkSettings152JSON is inspect's NetworkSettings from API 1.52 on:
// the deprecated top-level fields of the default endpoint (Bridge,
// HairpinMode, LinkLocalIPv6*, Secondary*, EndpointID, Gateway,
// GlobalIPv6*, IPAddress, IPPrefixLen, IPv6Gateway, MacAddress) are gone;
// they are in Networks[name].
type networkSettings152JSON struct {
	SandboxID  string                 `json:"SandboxID"`
	SandboxKey string                 `json:"SandboxKey"`
	Ports      map[string]any         `json:"Ports"`
	Networks   map[string]networkJSON `json:"Networks"`
}

// inspectFor is inspect's answer to a request of API version ver.
func inspectFor(c *container, ver string) inspectJSON {
	v := inspect(c)
	if legacyFields(ver) {
		v.Config.OnBuild = new([]string) // null, as dockerd up to 1.51
		return v
	}
	ns := v.NetworkSettings.(networkSettingsJSON)
	v.NetworkSettings = networkSettings152JSON{SandboxID: ns.SandboxID, SandboxKey: ns.SandboxKey, Ports: ns.Ports, Networks: ns.Networks}
	// KernelMemoryTCP left HostConfig in API 1.52.
	var hc map[string]json.RawMessage
	if json.Unmarshal(v.HostConfig, &hc) == nil {
		delete(hc, "KernelMemoryTCP")
		if b, err := json.Marshal(hc); err == nil {
			v.HostConfig = b
		}
	}
	return v
}

// zeroTime is how dockerd renders a time never set.
const zeroTime = "0001-01-01T00:00:00Z"

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return zeroTime
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func inspect(c *container) inspectJSON {
	dir := "/var/lib/docker/containers/" + c.id
	if c.hostConfig == nil {
		c.hostConfig = json.RawMessage(hostConfigJSON)
	}
	v := inspectJSON{
		ID: c.id, Created: rfc3339(c.created), Image: c.imageID,
		ResolvConfPath: dir + "/resolv.conf", HostnamePath: dir + "/hostname", HostsPath: dir + "/hosts",
		LogPath: dir + "/" + c.id + "-json.log", Name: "/" + c.name, Driver: "vfs", Platform: "linux",
		HostConfig: c.hostConfig, Mounts: []struct{}{},
		Args: []string{},
	}
	if len(c.cmd) > 0 {
		v.Path, v.Args = c.cmd[0], append([]string{}, c.cmd[1:]...)
	}
	if len(c.execIDs) > 0 {
		v.ExecIDs = c.execIDs
	}
	v.GraphDriver.Name = "vfs"
	v.State = stateJSON{
		Status: c.state, Running: c.state == stateRunning || c.state == statePaused,
		Paused: c.state == statePaused, Dead: c.state == stateDead, Pid: c.pid, ExitCode: c.exitCode,
		StartedAt: rfc3339(c.startedAt), FinishedAt: rfc3339(c.finishedAt),
	}
	if c.health != nil && c.hc != nil {
		h := &healthJSON{Status: c.health.status, FailingStreak: c.health.failingStreak, Log: []healthLogJSON{}}
		for _, p := range c.health.log {
			h.Log = append(h.Log, healthLogJSON{Start: rfc3339(p.start), End: rfc3339(p.end), ExitCode: p.exitCode})
		}
		v.State.Health = h
	}
	v.Config = configJSON{
		Hostname: c.id[:12], AttachStdout: true, AttachStderr: true,
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: c.cmd, Image: c.image, Labels: c.labels,
	}
	if c.hc != nil {
		v.Config.Healthcheck = &healthcheckJSON{Test: c.hc.test, Interval: c.hc.interval, Timeout: c.hc.timeout, Retries: c.hc.retries}
	}
	v.NetworkSettings = networkSettingsJSON{
		SandboxID: c.id, Ports: map[string]any{}, SandboxKey: "/var/run/docker/netns/" + c.id[:12],
		Networks: noneNetwork(c),
	}
	return v
}

// infoResponse is GET /info: the fields dockerd 20.10 gives that a client may
// rely on, SystemTime above all (the engine's clock, which docker-eventsd uses for
// since), with the container counts of this engine.
func (e *Engine) infoResponse() map[string]any {
	var running, paused, stopped int
	e.mu.Lock()
	for _, c := range e.containers {
		switch c.state {
		case stateRunning:
			running++
		case statePaused:
			paused++
		default:
			stopped++
		}
	}
	total := len(e.containers)
	e.mu.Unlock()
	return map[string]any{
		"ID":                "FAKE:" + e.name,
		"Containers":        total,
		"ContainersRunning": running,
		"ContainersPaused":  paused,
		"ContainersStopped": stopped,
		"Images":            1,
		"Driver":            "vfs",
		"Name":              "fakeengine",
		"ServerVersion":     e.Mode().serverVersion(),
		"OperatingSystem":   "fake",
		"OSType":            "linux",
		"Architecture":      "x86_64",
		"KernelVersion":     "fake",
		"NCPU":              1,
		"MemTotal":          1 << 30,
		"SystemTime":        time.Now().Format(time.RFC3339Nano),
	}
}

// versionResponse is GET /version: the mode's release and API range.
func (m Mode) versionResponse() map[string]any {
	details := map[string]string{
		"ApiVersion": m.API, "Arch": "amd64", "BuildTime": "2023-01-01T00:00:00.000000000+00:00",
		"Experimental": "false", "GitCommit": "fakeengine", "GoVersion": "go1.19.8", "KernelVersion": "fake",
		"MinAPIVersion": m.MinAPI, "Os": "linux",
	}
	return map[string]any{
		"Platform":      map[string]string{"Name": ""},
		"Components":    []any{map[string]any{"Name": "Engine", "Version": m.serverVersion(), "Details": details}},
		"Version":       m.serverVersion(),
		"ApiVersion":    m.API,
		"MinAPIVersion": m.MinAPI,
		"GitCommit":     "fakeengine",
		"GoVersion":     "go1.19.8",
		"Os":            "linux",
		"Arch":          "amd64",
		"KernelVersion": "fake",
		"BuildTime":     "2023-01-01T00:00:00.000000000+00:00",
	}
}
