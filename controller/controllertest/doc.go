// Package controllertest holds fakes for testing code that uses the
// controller: a Runner that records the commands it is asked to run, and a
// logger that records what is logged.
package controllertest
