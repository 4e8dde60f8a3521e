//go:build !linux

package informer

import "syscall"

// sshProcAttr starts ssh in a session of its own: no terminal to prompt
// on, a process group to signal.
func sshProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
