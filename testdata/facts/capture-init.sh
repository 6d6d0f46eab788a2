#!/bin/busybox sh
# /init of the initramfs capture-vm.sh builds: load the drivers, bring the
# network up like the microkernel would, capture the facts tree with
# "mk-agent facts --capture", and send it as base64 on the second serial
# port (ttyS1), or with capture.out=console (machines with one UART, such as
# QEMU's arm64 virt) on the console between CAPTURE-BEGIN and CAPTURE-END.
# Kernel parameters: capture.mac= (the NIC to configure), capture.ip=
# (address/prefix), capture.gw= (default gateway), capture.out=.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do
  insmod "/lib/modules/$m" 2>/dev/null || echo "capture: insmod $m failed"
done
# The boot facts: securityfs (lockdown) and, on UEFI, the EFI variables,
# as mk-agent init mounts them.
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
if [ -d /sys/firmware/efi/efivars ]; then
  mount -t efivarfs -o ro efivarfs /sys/firmware/efi/efivars 2>/dev/null
fi
mac= ip= gw= out=ttyS1
for arg in $(cat /proc/cmdline); do
  case $arg in
    capture.out=*) out=${arg#capture.out=} ;;
    capture.mac=*) mac=${arg#capture.mac=} ;;
    capture.ip=*) ip=${arg#capture.ip=} ;;
    capture.gw=*) gw=${arg#capture.gw=} ;;
  esac
done
# Disks and NICs probe asynchronously: wait (bounded) until they settle.
i=0
while [ $i -lt 50 ]; do
  n1=$(ls /sys/class/net /sys/block | wc -l)
  sleep 0.2
  n2=$(ls /sys/class/net /sys/block | wc -l)
  [ "$n1" = "$n2" ] && [ $i -ge 10 ] && break
  i=$((i + 1))
done
ip link set lo up
for d in /sys/class/net/*; do
  ifc=${d##*/}
  [ "$ifc" = lo ] && continue
  ip link set "$ifc" up
  if [ "$(cat "$d/address")" = "$mac" ] && [ -n "$ip" ]; then
    ip addr add "$ip" dev "$ifc"
    [ -n "$gw" ] && ip route add default via "$gw" dev "$ifc"
    hostname "mk$(echo "$mac" | tr -d : | tr a-f A-F)"
  fi
done
# Let the links come up so that carrier and speed read as they would.
sleep 2
if mk-agent facts --capture /tmp/tree >/tmp/facts.txt 2>/tmp/facts.err; then
  echo "capture: $(wc -l </tmp/facts.txt) facts"
else
  echo "capture: mk-agent failed"
fi
sed 's/^/capture: /' /tmp/facts.err
# The kernel's own decoding of the SMBIOS tables, for the tree that tests
# the fallback used when the tables cannot be read.
mkdir -p /tmp/dmi-id
for f in /sys/class/dmi/id/*; do
  [ -f "$f" ] && [ -r "$f" ] && cat "$f" >"/tmp/dmi-id/${f##*/}" 2>/dev/null
done
if [ "$out" = console ]; then
  # Kernel messages would break the base64 lines.
  echo 1 >/proc/sys/kernel/printk
  echo CAPTURE-BEGIN
  (cd /tmp && tar -c tree dmi-id) | base64
  echo CAPTURE-END
else
  (cd /tmp && tar -c tree dmi-id) | base64 >/dev/ttyS1
fi
echo CAPTURE-DONE
poweroff -f
