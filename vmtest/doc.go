// Package vmtest boots QEMU VMs with named CPU topologies on several
// kernels and runs a payload (the conformance suite) inside each one as
// PID 1, reading its typed events back live.
//
// Run takes (kernel × topology) jobs and runs them in a bounded pool. Each VM
// gets its own temporary directory and an initramfs made of a cached base
// image (the static guest binary, extra files and their libraries) plus a
// small per-VM config archive. The guest's events are written to the VM's
// directory in the out dir as they arrive, next to its console log and a
// vm.json summary, so results survive anything that happens later.
//
// The pieces live in subpackages: kernel (catalog and cache), topology
// (catalog and expected masks), initramfs (images), qemu (command line and
// process control), event (the guest/host channel) and guest (the init).
package vmtest
