package main

import "golang.org/x/sys/unix"

// epollWaits are the syscalls bpftool's event_pipe sleeps in (arm64 has no
// epoll_wait syscall: glibc calls epoll_pwait).
var epollWaits = []int{unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2}
