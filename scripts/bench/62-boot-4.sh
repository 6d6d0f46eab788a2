#!/usr/bin/env bash
# 62-boot-4: four QEMU nodes powered on at once against one server, BIOS and
# UEFI, through razor-netboot (full DHCP, TFTP, HTTP, at its defaults but
# --checkin-skew 0) beside the usual dnsmasq DHCP+TFTP set-up, in the same
# run: the real firmware path of a small boot storm (61-storm simulates 200
# nodes). Time until the last node registered, median of RUNS (default 1);
# about 3-6 minutes on 2 cores under TCG. It is 60-boot with NODES=4.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-1} NODES=4 FIRMWARE=BIOS,UEFI TIMEOUT=8m exec bash scripts/bench/60-boot.sh
