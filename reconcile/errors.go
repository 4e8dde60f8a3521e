package reconcile

import (
	"errors"
	"fmt"
)

// ErrTimeout is wrapped by the error Run returns when a handler outlived its
// Command.Timeout, so callers can tell a slow handler (errors.Is) from one that
// failed on its own.
var ErrTimeout = errors.New("handler timed out")

// ExitError is returned by Run when the shell ended unsuccessfully on its own
// (a non-zero exit status or a signal it did not get from Run's timeout or
// cancellation), so callers can log the status with errors.As.
type ExitError struct {
	// Code is the exit status, or -1 when the shell was killed by a signal.
	Code int
	// Signal describes the signal that killed the shell (for example
	// "killed" or "terminated"); empty when the shell exited.
	Signal string
}

// Error describes how the handler ended.
func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "handler killed by signal: " + e.Signal
	}
	return fmt.Sprintf("handler exited with status %d", e.Code)
}
