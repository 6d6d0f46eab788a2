// Package initsys is the microkernel's PID 1: it mounts the base file
// systems, takes the console, loads kernel modules (package kmod), brings
// the network up (package netup), sets the host name, starts and
// supervises `mk-agent run` and the dev variant's services, reaps
// orphans, and reboots, powers off or halts on busybox init's signals.
//
// Every step that touches the system is injectable through Config, so
// the boot sequence runs in tests with fakes and, with PID1 false, in an
// ordinary process.
package initsys
