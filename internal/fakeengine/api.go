package fakeengine

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP implements the engine's API.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ch := e.stalled(); ch != nil {
		// A hung engine: the connection is accepted, the answer never comes.
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	mode := e.Mode()
	h := w.Header()
	h.Set("Api-Version", mode.API)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "Docker/"+mode.serverVersion()+" (linux)")

	// As dockerd's version middleware: every route, /_ping included, takes
	// an optional /vX.Y prefix within the mode's range.
	path, prefix := r.URL.Path, ""
	if strings.HasPrefix(path, "/v") {
		if ver, tail, _ := strings.Cut(path[2:], "/"); isVersion(ver) {
			path, prefix = "/"+tail, ver
		}
	}
	ver, err := mode.checkVersion(prefix)
	if err != nil {
		e.countRequest("refused v" + prefix)
		writeError(w, err)
		return
	}
	e.countRequest("v" + ver)
	if err := r.ParseForm(); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, err.Error()})
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case path == "/_ping" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		e.countRequest("ping")
		h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
		h.Set("Pragma", "no-cache")
		h.Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodHead {
			h.Set("Content-Length", "0")
			return
		}
		_, _ = io.WriteString(w, "OK")
	case path == "/version" && r.Method == http.MethodGet:
		e.countRequest("version")
		writeJSON(w, http.StatusOK, mode.versionResponse())
	case path == "/info" && r.Method == http.MethodGet:
		e.countRequest("info")
		writeJSON(w, http.StatusOK, e.infoResponse())
	case path == "/events" && r.Method == http.MethodGet:
		e.countRequest("events")
		e.serveEvents(w, r, ver, mode)
	case path == "/containers/json" && r.Method == http.MethodGet:
		e.countRequest("list")
		e.serveList(w, r)
	case path == "/containers/create" && r.Method == http.MethodPost:
		e.countRequest("create")
		e.serveCreate(w, r)
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "json" && r.Method == http.MethodGet:
		e.countRequest("inspect")
		e.serveInspect(w, parts[1], ver)
	case len(parts) == 3 && parts[0] == "containers" && r.Method == http.MethodPost:
		e.countRequest(parts[2])
		e.serveContainerAction(w, r, parts[1], parts[2])
	case len(parts) == 2 && parts[0] == "containers" && r.Method == http.MethodDelete:
		e.countRequest("remove")
		force, _ := strconv.ParseBool(r.Form.Get("force"))
		writeResult(w, e.Remove(parts[1], force), http.StatusNoContent)
	case len(parts) == 3 && parts[0] == "exec" && parts[2] == "start" && r.Method == http.MethodPost:
		e.countRequest("exec_start")
		writeResult(w, e.ExecStart(parts[1]), http.StatusOK)
	case len(parts) == 3 && parts[0] == "exec" && parts[2] == "json" && r.Method == http.MethodGet:
		e.countRequest("exec_inspect")
		e.serveExecInspect(w, parts[1])
	default:
		writeError(w, &apiError{http.StatusNotFound, "page not found"})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, err.Error()}
	}
	if ae.code == http.StatusNotModified {
		w.WriteHeader(ae.code)
		return
	}
	writeJSON(w, ae.code, map[string]string{"message": ae.msg})
}

func writeResult(w http.ResponseWriter, err error, okCode int) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(okCode)
}

// parseTimestamp reads a since/until value as the client sends it
// ("seconds.nanoseconds"), or seconds, or RFC 3339. It returns UnixNano.
func parseTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	sec, frac, _ := strings.Cut(s, ".")
	if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
		var ns int64
		if frac != "" {
			for len(frac) < 9 {
				frac += "0"
			}
			if ns, err = strconv.ParseInt(frac[:9], 10, 64); err != nil {
				return 0, err
			}
		}
		return n*int64(time.Second) + ns, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return t.UnixNano(), nil
}

// serveEvents streams events: the ring from since (inclusive), then live
// events until until, the client leaves, or a fault ends the stream. ver is
// the request's API version: below 1.52 the events keep the legacy status,
// id and from fields. The content type is the mode's (eventsMediaType).
func (e *Engine) serveEvents(w http.ResponseWriter, r *http.Request, ver string, mode Mode) {
	since, err := parseTimestamp(r.Form.Get("since"))
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, err.Error()})
		return
	}
	until, err := parseTimestamp(r.Form.Get("until"))
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, err.Error()})
		return
	}
	if r.Form.Get("until") != "" && until < since {
		writeError(w, &apiError{http.StatusBadRequest, "`since` time must be before `until` time"})
		return
	}
	f, err := parseFilters(r.Form.Get("filters"))
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, err.Error()})
		return
	}
	// As in dockerd, a since or until that is set (even "0") asks for the
	// ring; -1 marks "not set".
	if r.Form.Get("since") == "" {
		since = -1
	}
	if r.Form.Get("until") == "" {
		until = -1
	}
	var timeout <-chan time.Time
	onlyPast := false
	if until >= 0 {
		now := time.Now().UnixNano()
		onlyPast = until < now
		if !onlyPast {
			t := time.NewTimer(time.Duration(until - now))
			defer t.Stop()
			timeout = t.C
		}
	}
	media := mode.eventsMediaType(r)
	enc := encoder{legacy: legacyFields(ver), seq: media == mediaJSONSeq}
	w.Header().Set("Content-Type", media)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	replay, sub := e.log.subscribe(since, until, f)
	defer e.log.unsubscribe(sub)
	bw := bufio.NewWriterSize(w, 32<<10)
	var line []byte
	flush := func() bool {
		return bw.Flush() == nil && rc.Flush() == nil
	}
	for _, ev := range replay {
		line = enc.append(line[:0], ev)
		_, _ = bw.Write(line)
	}
	e.log.written.Add(int64(len(replay)))
	if !flush() || onlyPast {
		return
	}
	ctx := r.Context()
	for {
		select {
		case ev := <-sub.ch:
			if ch := e.stalled(); ch != nil {
				// Hung: stop reading; the publisher drops after 100 ms.
				select {
				case <-ch:
				case <-ctx.Done():
					return
				case <-sub.end:
					e.endStream(rc, sub)
					return
				}
			}
			n := int64(1)
			line = enc.append(line[:0], ev)
			_, _ = bw.Write(line)
		batch:
			for n < 512 {
				select {
				case ev := <-sub.ch:
					line = enc.append(line[:0], ev)
					_, _ = bw.Write(line)
					n++
				default:
					break batch
				}
			}
			ok := flush()
			e.log.written.Add(n)
			if !ok {
				return
			}
		case <-timeout:
			return
		case <-ctx.Done():
			return
		case <-sub.end:
			e.endStream(rc, sub)
			return
		}
	}
}

// endStream ends a stream cut by a fault: cleanly (the client reads EOF) or,
// for a crash, by closing the connection under it.
func (e *Engine) endStream(rc *http.ResponseController, sub *subscriber) {
	if !sub.abort.Load() {
		return
	}
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
	}
}

// serveList answers GET /containers/json.
func (e *Engine) serveList(w http.ResponseWriter, r *http.Request) {
	all, _ := strconv.ParseBool(r.Form.Get("all"))
	limit, _ := strconv.Atoi(r.Form.Get("limit"))
	f, err := parseFilters(r.Form.Get("filters"))
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, err.Error()})
		return
	}
	plain := all && limit <= 0 && len(f.terms) == 0
	e.mu.Lock()
	if plain && e.listJSON != nil && time.Since(e.listAt) < time.Second {
		// Status texts ("Up 3 seconds") are allowed to be a second old.
		b := e.listJSON
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	cs := make([]*container, 0, len(e.containers))
	for _, c := range e.containers {
		if !all && c.state != stateRunning && c.state != statePaused {
			if len(f.terms["status"]) == 0 {
				continue
			}
		}
		if !listMatch(f, c) {
			continue
		}
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool {
		if !cs[i].created.Equal(cs[j].created) {
			return cs[i].created.After(cs[j].created)
		}
		return cs[i].id < cs[j].id
	})
	if limit > 0 && len(cs) > limit {
		cs = cs[:limit]
	}
	now := time.Now()
	items := make([]summaryJSON, len(cs))
	for i, c := range cs {
		items[i] = summary(c, now)
	}
	b, _ := json.Marshal(items)
	b = append(b, '\n')
	if plain {
		e.listJSON, e.listAt = b, now
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// listMatch applies the list filters: id (prefix), name (regexp), label,
// status.
func listMatch(f *filter, c *container) bool {
	if ids := f.terms["id"]; len(ids) > 0 {
		ok := false
		for id := range ids {
			ok = ok || strings.HasPrefix(c.id, id)
		}
		if !ok {
			return false
		}
	}
	if names := f.terms["name"]; len(names) > 0 {
		ok := false
		for n := range names {
			if re, err := regexp.Compile(n); err == nil && re.MatchString("/"+c.name) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if st := f.terms["status"]; len(st) > 0 && !st[c.state] {
		return false
	}
	return matchLabels(f.terms["label"], c.labels)
}

// serveInspect answers GET /containers/{id}/json.
func (e *Engine) serveInspect(w http.ResponseWriter, ref, ver string) {
	e.mu.Lock()
	c, err := e.find(ref)
	var v any
	if err == nil {
		v = inspectFor(c, ver)
	}
	e.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// createRequest is the part of POST /containers/create the fake reads.
type createRequest struct {
	HostConfig  map[string]json.RawMessage
	Image       string
	Cmd         []string
	Entrypoint  []string
	Labels      map[string]string
	Healthcheck *struct {
		Test     []string
		Interval time.Duration
		Timeout  time.Duration
		Retries  int
	}
}

func (e *Engine) serveCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, err.Error()})
		return
	}
	o := CreateOptions{Name: r.Form.Get("name"), Image: req.Image, Cmd: append(req.Entrypoint, req.Cmd...), Labels: req.Labels,
		HostConfig: req.HostConfig}
	if hc := req.Healthcheck; hc != nil {
		o.Healthcheck, o.HealthInterval, o.HealthTimeout, o.HealthRetries = hc.Test, hc.Interval, hc.Timeout, hc.Retries
	}
	id, err := e.Create(o)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"Id": id, "Warnings": []string{}})
}

func (e *Engine) serveContainerAction(w http.ResponseWriter, r *http.Request, ref, action string) {
	timeout := 10 * time.Second
	if t := r.Form.Get("t"); t != "" {
		if n, err := strconv.Atoi(t); err == nil && n >= 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	switch action {
	case "start":
		writeResult(w, e.Start(ref), http.StatusNoContent)
	case "kill":
		writeResult(w, e.Kill(ref, r.Form.Get("signal")), http.StatusNoContent)
	case "stop":
		writeResult(w, e.Stop(ref, timeout), http.StatusNoContent)
	case "restart":
		writeResult(w, e.Restart(ref, timeout), http.StatusNoContent)
	case "pause":
		writeResult(w, e.Pause(ref), http.StatusNoContent)
	case "unpause":
		writeResult(w, e.Unpause(ref), http.StatusNoContent)
	case "rename":
		writeResult(w, e.Rename(ref, r.Form.Get("name")), http.StatusNoContent)
	case "exec":
		var req struct{ Cmd []string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, &apiError{http.StatusBadRequest, err.Error()})
			return
		}
		id, err := e.ExecCreate(ref, req.Cmd)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
	default:
		writeError(w, &apiError{http.StatusNotFound, "page not found"})
	}
}

func (e *Engine) serveExecInspect(w http.ResponseWriter, id string) {
	e.mu.Lock()
	x := e.execs[id]
	var v map[string]any
	if x != nil {
		v = map[string]any{"ID": x.id, "Running": x.running, "ExitCode": x.exitCode, "ContainerID": x.container.id,
			"ProcessConfig": map[string]any{"entrypoint": first(x.cmd), "arguments": rest(x.cmd)}}
	}
	e.mu.Unlock()
	if x == nil {
		writeError(w, &apiError{http.StatusNotFound, "No such exec instance: " + id})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func rest(s []string) []string {
	if len(s) < 2 {
		return []string{}
	}
	return s[1:]
}
