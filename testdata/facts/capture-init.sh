#!/bin/busybox sh
# /init of the initramfs capture-vm.sh builds: load the drivers, bring the
# network up like the microkernel would, capture the facts tree with
# "mk-agent facts --capture", and send it as base64 on the second serial
# port (ttyS1). Kernel parameters: capture.mac= (the NIC to configure),
# capture.ip= (address/prefix), capture.gw= (default gateway).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do
  insmod "/lib/modules/$m" 2>/dev/null || echo "capture: insmod $m failed"
done
mac= ip= gw=
for arg in $(cat /proc/cmdline); do
  case $arg in
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
(cd /tmp && tar -c tree dmi-id) | base64 >/dev/ttyS1
echo CAPTURE-DONE
poweroff -f
