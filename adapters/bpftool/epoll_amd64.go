package main

import "golang.org/x/sys/unix"

// epollWaits are the syscalls bpftool's event_pipe sleeps in (glibc's
// epoll_wait is the epoll_wait syscall on amd64).
var epollWaits = []int{unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2}
