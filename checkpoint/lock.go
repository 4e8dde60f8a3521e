package checkpoint

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockHolder returns the pid of the process that holds the flock of the file
// at path, read from /proc/locks (Linux), or 0 when it cannot tell.
func lockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	return holderIn(bufio.NewScanner(f), st.Ino)
}

// holderIn finds, in lines of /proc/locks, the holder of a granted FLOCK on
// the inode ino:
//
//	1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF
//	1: -> FLOCK  ADVISORY  WRITE 4343 08:01:1234567 0 EOF   (a waiter)
func holderIn(sc *bufio.Scanner, ino uint64) int {
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || f[1] != "FLOCK" {
			continue // a waiter ("->"), or another kind of lock
		}
		dev := strings.Split(f[5], ":")
		if len(dev) != 3 {
			continue
		}
		if n, err := strconv.ParseUint(dev[2], 10, 64); err != nil || n != ino {
			continue
		}
		if pid, err := strconv.Atoi(f[4]); err == nil {
			return pid
		}
	}
	return 0
}
