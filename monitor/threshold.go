package monitor

import "github.com/samalba/docker-eventsd/config"

// transition is what one check changed in a target's result.
type transition int

const (
	// noTransition: the result is what it was.
	noTransition transition = iota
	// wentDown: the target just passed Failures failed checks in a row.
	wentDown
	// cameBack: a down target just passed Successes good checks in a row.
	cameBack
	// becameUp: a starting target just passed Successes good checks: a
	// change of result, with no event.
	becameUp
)

// counter is one target's count of consecutive checks and its result; the
// zero value is a target starting.
type counter struct {
	// status is config.MonitorStarting (""), MonitorUp or MonitorDown.
	status string
	// fails and oks count the consecutive failed and good checks; one of
	// them is always 0.
	fails, oks int
}

// result returns the target's result as state rules see it.
func (c *counter) result() string {
	if c.status == "" {
		return config.MonitorStarting
	}
	return c.status
}

// observe counts one check: ok tells whether it passed, counted whether a
// failure counts (false within the start period: it only breaks a run of
// good checks). It returns the transition the check made.
func (c *counter) observe(ok, counted bool, failures, successes int) transition {
	if ok {
		c.fails = 0
		c.oks++
		if c.status != config.MonitorUp && c.oks >= successes {
			prev := c.status
			c.status = config.MonitorUp
			if prev == config.MonitorDown {
				return cameBack
			}
			return becameUp
		}
		return noTransition
	}
	c.oks = 0
	if !counted {
		return noTransition
	}
	c.fails++
	if c.status != config.MonitorDown && c.fails >= failures {
		c.status = config.MonitorDown
		return wentDown
	}
	return noTransition
}
