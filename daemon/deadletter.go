package daemon

import "github.com/samalba/docker-eventsd/controller"

// DeadLetters returns the deliveries given up and kept, oldest first.
func (d *Daemon) DeadLetters() []controller.DeadLetter { return d.ctrl.DeadLetters() }

// RetryDeadLetter queues the dead letter id again as a fresh delivery of the
// same event, its attempts reset, and returns the new delivery's ID.
func (d *Daemon) RetryDeadLetter(id uint64) (uint64, error) { return d.ctrl.RetryDeadLetter(id) }

// RetryAllDeadLetters retries every dead letter and returns how many were
// queued.
func (d *Daemon) RetryAllDeadLetters() (int, error) { return d.ctrl.RetryAllDeadLetters() }

// DropDeadLetter forgets the dead letter id.
func (d *Daemon) DropDeadLetter(id uint64) error { return d.ctrl.DropDeadLetter(id) }

// DeadLetter is a delivery given up and kept (controller.DeadLetter), as
// the endpoint serves it.
type DeadLetter = controller.DeadLetter

// Errors of the dead-letter operations, for the endpoint's answers.
var (
	// ErrNoDeadLetter: no dead letter of that ID.
	ErrNoDeadLetter = controller.ErrNoDeadLetter
	// ErrRuleGone: the dead letter's rule is no longer in the config.
	ErrRuleGone = controller.ErrRuleGone
	// ErrStopping: the daemon is shutting down.
	ErrStopping = controller.ErrStopping
)
