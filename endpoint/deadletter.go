package endpoint

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/samalba/docker-eventsd/daemon"
)

// DeadLetters is what the dead-letter routes need of the daemon;
// *daemon.Daemon implements it.
type DeadLetters interface {
	DeadLetters() []daemon.DeadLetter
	RetryDeadLetter(id uint64) (uint64, error)
	RetryAllDeadLetters() (int, error)
	DropDeadLetter(id uint64) error
}

var _ DeadLetters = (*daemon.Daemon)(nil)

// DeadRequest is the body of POST /dead/retry and POST /dead/drop: one dead
// letter by ID, or (retry only) all of them.
type DeadRequest struct {
	ID  uint64 `json:"id,omitempty"`
	All bool   `json:"all,omitempty"`
}

// DeadAnswer is the answer of POST /dead/retry and POST /dead/drop.
type DeadAnswer struct {
	// Retried counts the dead letters queued again; Deliveries are the IDs
	// of their new deliveries (one ID asked).
	Retried    int      `json:"retried,omitempty"`
	Deliveries []uint64 `json:"deliveries,omitempty"`
	// Dropped is the ID of the dead letter dropped.
	Dropped uint64 `json:"dropped,omitempty"`
	// Error says what went wrong (with a status that is not 200).
	Error string `json:"error,omitempty"`
}

// deadRoutes adds the dead-letter routes to mux when the daemon has them.
// The two that change something are POSTs of a JSON body: a web page cannot
// send one across origins without a CORS preflight, which the endpoint never
// answers.
func (s *Server) deadRoutes(mux *http.ServeMux) {
	dl, ok := s.opts.Daemon.(DeadLetters)
	if !ok {
		return
	}
	mux.HandleFunc("GET /dead", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, dl.DeadLetters())
	})
	mux.HandleFunc("POST /dead/retry", func(w http.ResponseWriter, r *http.Request) {
		req, ok := s.deadRequest(w, r)
		if !ok {
			return
		}
		if req.All {
			n, err := dl.RetryAllDeadLetters()
			s.deadAnswer(w, DeadAnswer{Retried: n}, err)
			return
		}
		seq, err := dl.RetryDeadLetter(req.ID)
		a := DeadAnswer{}
		if err == nil {
			a.Retried, a.Deliveries = 1, []uint64{seq}
		}
		s.deadAnswer(w, a, err)
	})
	mux.HandleFunc("POST /dead/drop", func(w http.ResponseWriter, r *http.Request) {
		req, ok := s.deadRequest(w, r)
		if !ok {
			return
		}
		if req.All {
			s.writeJSON(w, http.StatusBadRequest, DeadAnswer{Error: "drop takes one dead letter's id, not all"})
			return
		}
		err := dl.DropDeadLetter(req.ID)
		a := DeadAnswer{}
		if err == nil {
			a.Dropped = req.ID
		}
		s.deadAnswer(w, a, err)
	})
}

// deadRequest reads the JSON body of a dead-letter POST; it answers 400 or
// 415 itself when it is not one.
func (s *Server) deadRequest(w http.ResponseWriter, r *http.Request) (DeadRequest, bool) {
	var req DeadRequest
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.writeJSON(w, http.StatusUnsupportedMediaType, DeadAnswer{Error: "want a JSON body (Content-Type: application/json)"})
		return req, false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.writeJSON(w, http.StatusBadRequest, DeadAnswer{Error: "bad request body: " + err.Error()})
		return req, false
	}
	if !req.All && req.ID == 0 {
		s.writeJSON(w, http.StatusBadRequest, DeadAnswer{Error: `want {"id": N} or {"all": true}`})
		return req, false
	}
	return req, true
}

// deadAnswer writes a, with the status err calls for.
func (s *Server) deadAnswer(w http.ResponseWriter, a DeadAnswer, err error) {
	code := http.StatusOK
	switch {
	case err == nil:
	case errors.Is(err, daemon.ErrNoDeadLetter):
		code = http.StatusNotFound
	case errors.Is(err, daemon.ErrRuleGone):
		code = http.StatusConflict
	case errors.Is(err, daemon.ErrStopping):
		code = http.StatusServiceUnavailable
	default:
		code = http.StatusInternalServerError
	}
	if err != nil {
		a.Error = err.Error()
	}
	s.writeJSON(w, code, a)
}

// writeJSON writes v as indented JSON with code.
func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.opts.Logger.Error(err, "Cannot write an answer")
	}
}
