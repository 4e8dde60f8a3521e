package fakeengine

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The API rules below were read in the moby source: the version middleware
// (daemon/server/middleware/version.go), the system routes
// (daemon/server/router/system/system_routes.go: /_ping, /version, /events)
// and api/docs/CHANGELOG.md.

// APIVersion is the API version of the default mode: dockerd 20.10's.
const APIVersion = "1.41"

// MinAPIVersion is the oldest API version the default mode accepts in a path
// prefix.
const MinAPIVersion = "1.12"

// Mode is the Docker release an engine answers as: the range of API versions
// it accepts, and what its answers hold for each. Every answer follows the
// version of its request (the path's /vX.Y prefix, or API when there is
// none), as dockerd's do.
type Mode struct {
	// API is the highest API version: the Api-Version header of every answer
	// (which the client negotiates from), ApiVersion in /version. A request
	// for a higher one is refused.
	API string
	// MinAPI is the lowest API version accepted in a path prefix
	// (MinAPIVersion in /version); a request for a lower one is refused with
	// 400 and dockerd's message.
	MinAPI string
	// Engine is the release (Version in /version, ServerVersion in /info,
	// the Server header), marked -fakeengine.
	Engine string
}

// modes are the releases the fake answers as, one per API version from
// Docker 25 on, and dockerd 20.10 (the default, Debian's, which the contract
// tests record). Docker 25 to 28 accept API 1.24 and up; Docker 29 accepts
// 1.44 and up (moby's api.MinSupportedAPIVersion).
var modes = []Mode{
	{API: "1.41", MinAPI: "1.12", Engine: "20.10.24"},
	{API: "1.44", MinAPI: "1.24", Engine: "25.0.5"},
	{API: "1.45", MinAPI: "1.24", Engine: "26.1.4"},
	{API: "1.46", MinAPI: "1.24", Engine: "27.0.3"},
	{API: "1.47", MinAPI: "1.24", Engine: "27.5.1"},
	{API: "1.48", MinAPI: "1.24", Engine: "28.0.4"},
	{API: "1.49", MinAPI: "1.24", Engine: "28.1.1"},
	{API: "1.50", MinAPI: "1.24", Engine: "28.2.2"},
	{API: "1.51", MinAPI: "1.24", Engine: "28.3.3"},
	{API: "1.52", MinAPI: "1.44", Engine: "29.0.0"},
}

// API versions at which something the fake serves changed.
const (
	// apiNoLegacyEvents: events no longer carry the deprecated status, id
	// and from fields; inspect's NetworkSettings no longer carries the
	// deprecated top-level endpoint fields (IPAddress, Gateway...),
	// Config.OnBuild is left out when empty, HostConfig.KernelMemoryTCP is
	// gone. The event stream's content type is negotiated (any version)
	// from this engine release on.
	apiNoLegacyEvents = "1.52"
)

// DefaultMode is dockerd 20.10 (API 1.41): what NewEngine answers as.
func DefaultMode() Mode { return modes[0] }

// NewestMode is the newest release the fake knows.
func NewestMode() Mode { return modes[len(modes)-1] }

// Modes returns every mode, oldest first.
func Modes() []Mode { return append([]Mode(nil), modes...) }

// ModeFor returns the mode of an API version ("1.44"), or of the newest
// release for "newest" or the newest version with a "+" ("1.52+").
func ModeFor(api string) (Mode, error) {
	if api == "newest" || api == NewestMode().API+"+" {
		return NewestMode(), nil
	}
	for _, m := range modes {
		if m.API == api {
			return m, nil
		}
	}
	known := make([]string, 0, len(modes))
	for _, m := range modes {
		known = append(known, m.API)
	}
	return Mode{}, fmt.Errorf("API version %q: want one of %s, or newest", api, strings.Join(known, ", "))
}

// String names the mode: "API 1.52 (Docker 29.0.0)".
func (m Mode) String() string { return "API " + m.API + " (Docker " + m.Engine + ")" }

// serverVersion is the release as the engine reports it.
func (m Mode) serverVersion() string { return m.Engine + "-fakeengine" }

// checkVersion returns the API version of a request for the version in its
// path prefix ("" for none: the mode's own), or dockerd's error for a version
// out of the mode's range.
func (m Mode) checkVersion(ver string) (string, error) {
	if ver == "" {
		return m.API, nil
	}
	if versionLess(ver, m.MinAPI) {
		return "", &apiError{http.StatusBadRequest, "client version " + ver + " is too old. Minimum supported API version is " + m.MinAPI + ", please upgrade your client to a newer version"}
	}
	if versionLess(m.API, ver) {
		return "", &apiError{http.StatusBadRequest, "client version " + ver + " is too new. Maximum supported API version is " + m.API}
	}
	return ver, nil
}

// eventsMediaType is the content type of an event stream for the request's
// Accept header: dockerd (from API 1.52 on) offers application/x-ndjson and
// application/json-seq, and answers application/json when the client
// accepts neither; older releases always answer application/json.
func (m Mode) eventsMediaType(r *http.Request) string {
	if versionLess(m.API, apiNoLegacyEvents) {
		return mediaJSON
	}
	return negotiate(r.Header.Values("Accept"), []string{mediaNDJSON, mediaJSONSeq}, mediaJSON)
}

const (
	mediaJSON    = "application/json"
	mediaNDJSON  = "application/x-ndjson"
	mediaJSONSeq = "application/json-seq"
)

// negotiate picks an offer for the Accept header values, as
// github.com/golang/gddo/httputil.NegotiateContentType (which dockerd uses)
// does: the highest q wins, an exact match before type/* before */*, the
// first offer among equals; q=0 refuses; def when nothing matches.
func negotiate(accept []string, offers []string, def string) string {
	type spec struct {
		value string
		q     float64
	}
	var specs []spec
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			fields := strings.Split(part, ";")
			v := strings.ToLower(strings.TrimSpace(fields[0]))
			if v == "" {
				continue
			}
			q := 1.0
			for _, p := range fields[1:] {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.TrimSpace(k) == "q" {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			specs = append(specs, spec{v, q})
		}
	}
	best, bestQ, bestWild := def, -1.0, 3
	for _, offer := range offers {
		for _, s := range specs {
			switch {
			case s.q == 0 || s.q < bestQ:
			case s.value == "*/*":
				if s.q > bestQ || bestWild > 2 {
					best, bestQ, bestWild = offer, s.q, 2
				}
			case strings.HasSuffix(s.value, "/*"):
				if strings.HasPrefix(offer, s.value[:len(s.value)-1]) && (s.q > bestQ || bestWild > 1) {
					best, bestQ, bestWild = offer, s.q, 1
				}
			default:
				if s.value == offer && (s.q > bestQ || bestWild > 0) {
					best, bestQ, bestWild = offer, s.q, 0
				}
			}
		}
	}
	return best
}

// legacyFields reports whether answers to a request of API version ver keep
// the fields deprecated long ago that API 1.52 left out.
func legacyFields(ver string) bool { return versionLess(ver, apiNoLegacyEvents) }

func isVersion(s string) bool {
	a, b, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	_, err1 := strconv.Atoi(a)
	_, err2 := strconv.Atoi(b)
	return err1 == nil && err2 == nil
}

// versionLess compares API versions "1.41".
func versionLess(a, b string) bool {
	am, an, _ := strings.Cut(a, ".")
	bm, bn, _ := strings.Cut(b, ".")
	x, _ := strconv.Atoi(am)
	y, _ := strconv.Atoi(bm)
	if x != y {
		return x < y
	}
	x, _ = strconv.Atoi(an)
	y, _ = strconv.Atoi(bn)
	return x < y
}
