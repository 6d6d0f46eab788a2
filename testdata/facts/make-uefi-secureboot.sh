#!/bin/sh
# make-uefi-secureboot.sh writes testdata/facts/uefi-secureboot: a small
# constructed tree of a UEFI machine with Secure Boot on (user mode) and
# the kernel in integrity lockdown, as Debian's kernel runs under Secure
# Boot, with just enough /proc for the other collectors. The EFI
# variables are efivarfs files: 4 bytes of attributes (0x06: boot
# service and runtime access, little-endian), then the 1-byte value.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
t=$here/uefi-secureboot
guid=8be4df61-93ca-11d2-aa0d-00e098032b8c
rm -rf "$t"
mkdir -p "$t/sys/firmware/efi/efivars" "$t/sys/kernel/security" "$t/proc/sys/kernel" "$t/sys/class/net" "$t/sys/block"
printf '\006\000\000\000\001' >"$t/sys/firmware/efi/efivars/SecureBoot-$guid"
printf '\006\000\000\000\000' >"$t/sys/firmware/efi/efivars/SetupMode-$guid"
echo 'none [integrity] confidentiality' >"$t/sys/kernel/security/lockdown"
echo Linux >"$t/proc/sys/kernel/ostype"
echo 6.1.0-57-amd64 >"$t/proc/sys/kernel/osrelease"
echo x86_64 >"$t/proc/sys/kernel/arch"
echo mk525400123456 >"$t/proc/sys/kernel/hostname"
printf 'processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: QEMU Virtual CPU version 2.5+\nphysical id\t: 0\nflags\t\t: fpu lm hypervisor\n\n' >"$t/proc/cpuinfo"
printf 'MemTotal:        2030000 kB\n' >"$t/proc/meminfo"
: >"$t/sys/class/net/.keep"
: >"$t/sys/block/.keep"
