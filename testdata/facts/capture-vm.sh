#!/usr/bin/env bash
# capture-vm.sh boots QEMU virtual machines with Debian's kernel and a tiny
# initramfs (busybox-static + mk-agent) whose /init runs
# "mk-agent facts --capture" and sends the captured /proc+/sys tree back as
# base64 over a second serial port. It regenerates the trees the facts
# tests replay:
#
#   testdata/facts/qemu    a q35 QEMU guest (SMBIOS 3 entry point), virtio-net
#                          + e1000, virtio-blk + AHCI SATA disk + empty CD-ROM
#   testdata/facts/vmware  an i440fx guest dressed as VMware (SMBIOS 2.x
#                          strings of a VMware VM, vmxnet3 + e1000, PVSCSI
#                          disk), two sockets
#   testdata/facts/vmware-sysfs-dmi
#                          the same without the SMBIOS tables but with the
#                          kernel's /sys/class/dmi/id, as a non-root reader
#                          or an old kernel sees it
#   testdata/facts/arm64   an arm64 QEMU virt guest booted through UEFI
#                          (AAVMF), Debian's arm64 kernel and busybox, an
#                          arm64 agent: cortex-a72 CPUs, virtio-net,
#                          virtio-blk and NVMe disks, SMBIOS from the UEFI
#                          tables
#
# Usage: testdata/facts/capture-vm.sh [qemu|vmware|arm64 ...]
# (default: qemu and vmware)
# Needs: qemu-system-x86_64, apt-get (to download the .debs), dpkg-deb, cpio,
# go; for arm64 also dpkg's arm64 architecture, qemu-system-aarch64 and
# qemu-efi-aarch64 (scripts/deps.sh). Downloads are cached in $CACHE (default
# /work/cache/facts-vm or ~/.cache/razor-mk/facts-vm). Runs under TCG; takes
# about a minute a VM (arm64: a few).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -z "${CACHE:-}" ]; then
  if [ -d /work/cache ]; then CACHE=/work/cache/facts-vm; else CACHE=$HOME/.cache/razor-mk/facts-vm; fi
fi
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() { # package [arch] -> path of its .deb in the cache
  local f
  f=$(ls "$CACHE"/"$1"_*_"${2:-amd64}".deb 2>/dev/null | head -n1 || true)
  if [ -z "$f" ]; then
    (cd "$CACHE" && apt-get download "$1${2:+:$2}" >&2)
    f=$(ls "$CACHE"/"$1"_*_"${2:-amd64}".deb | head -n1)
  fi
  echo "$f"
}

# setup_arch ARCH: Debian's kernel and busybox-static of the Debian
# architecture ARCH from the .debs, and a static agent for it; sets
# vmlinuz, moddir, busybox and agent.
setup_arch() {
  local arch=$1 kpkg kver kroot
  kpkg=$(apt-cache depends "linux-image-$arch:$arch" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  kpkg=${kpkg%:"$arch"}
  [ -n "$kpkg" ] || { echo "capture-vm: cannot find the linux-image package of linux-image-$arch" >&2; exit 1; }
  kver=${kpkg#linux-image-}
  if [ ! -d "$CACHE/kernel-$kver" ]; then
    dpkg-deb -x "$(fetch "$kpkg" "$arch")" "$CACHE/kernel-$kver.tmp"
    mv "$CACHE/kernel-$kver.tmp" "$CACHE/kernel-$kver"
  fi
  busybox=$CACHE/busybox-$arch
  if [ ! -x "$busybox" ]; then
    rm -rf "$work/bb"
    dpkg-deb -x "$(fetch busybox-static "$arch")" "$work/bb"
    cp "$work/bb/bin/busybox" "$busybox"
  fi
  kroot=$CACHE/kernel-$kver
  vmlinuz=$kroot/boot/vmlinuz-$kver
  moddir=$kroot/lib/modules/$kver
  agent=$work/mk-agent-$arch
  [ -x "$agent" ] || (cd "$repo" && CGO_ENABLED=0 GOARCH=$arch go build -trimpath -ldflags '-s -w' -o "$agent" ./cmd/mk-agent)
}

# modules_for NAME...: the .ko paths, dependencies first (from each
# module's .modinfo "depends=" line; Debian ships no modules.dep).
declare -A seen
order=()
ko_path() { find "$moddir" -name "$1.ko" -print -quit; }
add_module() {
  local m=${1//-/_} f deps d
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  f=$(ko_path "$m")
  [ -z "$f" ] && f=$(ko_path "${1}")
  [ -z "$f" ] && f=$(ko_path "${m//_/-}")
  if [ -z "$f" ]; then return 0; fi # built into the kernel
  deps=$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n1)
  for d in ${deps//,/ }; do add_module "$d"; done
  order+=("$f")
}

# build_initrd OUT MODULE...
build_initrd() {
  local out=$1; shift
  seen=(); order=()
  for m in "$@"; do add_module "$m"; done
  local root=$work/initrd
  rm -rf "$root"
  mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
  cp "$busybox" "$root/bin/busybox"
  cp "$agent" "$root/bin/mk-agent"
  : >"$root/modules.order"
  for f in "${order[@]}"; do
    cp "$f" "$root/lib/modules/"
    basename "$f" >>"$root/modules.order"
  done
  cp "$here/capture-init.sh" "$root/init"
  chmod 755 "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 >"$out")
}

# run_vm NAME CMDLINE QEMU-ARGS...: boots, collects the tree into
# testdata/facts/NAME. QEMU is qemu-system-x86_64 unless $QEMU says; the
# tree comes on the second serial port, or, with capture.out=console in
# CMDLINE (machines with one UART), between markers on the console.
run_vm() {
  local name=$1 cmdline=$2; shift 2
  local out=$work/$name.b64 log=$work/$name.log console=${CONSOLE:-ttyS0}
  echo "capture-vm: booting $name" >&2
  if [[ " $cmdline " == *" capture.out=console "* ]]; then
    timeout 1200 "${QEMU:-qemu-system-x86_64}" -accel tcg -nodefaults -no-reboot -display none \
      -kernel "$vmlinuz" -initrd "$work/$name.initrd" \
      -append "console=$console panic=-1 loglevel=4 $cmdline" \
      -serial "file:$log" "$@" || true
    tr -d '\r' <"$log" | sed -n '/^CAPTURE-BEGIN$/,/^CAPTURE-END$/p' | sed '1d;$d' >"$out"
  else
    timeout 600 "${QEMU:-qemu-system-x86_64}" -accel tcg -nodefaults -no-reboot -display none \
      -kernel "$vmlinuz" -initrd "$work/$name.initrd" \
      -append "console=$console panic=-1 loglevel=4 $cmdline" \
      -serial "file:$log" -serial "file:$out" "$@" || true
  fi
  if ! grep -q CAPTURE-DONE "$log"; then
    echo "capture-vm: $name did not finish; console log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  grep -E '^(mk-agent|capture):' "$log" >&2 || true
  local x=$work/$name.x
  rm -rf "$x" "$here/$name"
  mkdir -p "$x"
  tr -d '\r' <"$out" | base64 -d | tar -x -C "$x"
  mv "$x/tree" "$here/$name"
  echo "capture-vm: wrote $here/$name ($(find "$here/$name" -type f | wc -l) files)" >&2
  if [ -n "${SYSFS_DMI_TREE:-}" ]; then
    local alt=$here/$SYSFS_DMI_TREE
    rm -rf "$alt"
    cp -a "$here/$name" "$alt"
    rm -rf "$alt/sys/firmware/dmi/tables"
    mkdir -p "$alt/sys/class/dmi"
    cp -a "$x/dmi-id" "$alt/sys/class/dmi/id"
    echo "capture-vm: wrote $alt" >&2
  fi
}

disk() { truncate -s "$2" "$work/$1.img"; echo "$work/$1.img"; }

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(qemu vmware)

if [[ " ${targets[*]} " == *" qemu "* || " ${targets[*]} " == *" vmware "* ]]; then
  setup_arch amd64
fi

if [[ " ${targets[*]} " == *" qemu "* ]]; then
  build_initrd "$work/qemu.initrd" virtio_pci virtio_net virtio_blk e1000 ahci sd_mod sr_mod
  run_vm qemu "capture.mac=52:54:00:12:34:01 capture.ip=10.0.2.15/24 capture.gw=10.0.2.2" \
    -machine q35,smbios-entry-point-type=64 -m 512 -smp 2 \
    -smbios type=1,serial=QEMU-NODE-0001,uuid=5f1c2a7e-3b4d-4e8f-9a0b-1c2d3e4f5a6b,sku=RZ-TEST,family=Razor \
    -smbios type=2,manufacturer=QEMU,product=Q35-Board,version=1.0,serial=BOARD-0001 \
    -smbios type=3,manufacturer=QEMU,serial=CHASSIS-0001 \
    -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:01 \
    -netdev user,id=n1 -device e1000,netdev=n1,mac=52:54:00:12:34:02 \
    -drive if=none,id=d0,format=raw,file="$(disk qemu-vda 8G)" -device virtio-blk-pci,drive=d0,serial=VIRTIO-0001 \
    -drive if=none,id=d1,format=raw,file="$(disk qemu-sda 20G)" \
    -device ide-hd,drive=d1,bus=ide.0,serial=SATA-0001,model=QEMU-SATA-DISK,wwn=0x5000c5001234abcd,rotation_rate=1 \
    -device ide-cd,bus=ide.1
fi

if [[ " ${targets[*]} " == *" vmware "* ]]; then
  build_initrd "$work/vmware.initrd" vmxnet3 e1000 vmw_pvscsi sd_mod
  SYSFS_DMI_TREE=vmware-sysfs-dmi run_vm vmware "capture.mac=00:50:56:a1:b2:c3 capture.ip=192.168.122.50/24 capture.gw=192.168.122.1" \
    -machine pc -m 1024 -smp 2,sockets=2,cores=1,threads=1 \
    -smbios "type=0,vendor=Phoenix Technologies LTD,version=6.00,date=11/12/2020,release=4.6" \
    -smbios "type=1,manufacturer=VMware,, Inc.,product=VMware Virtual Platform,version=None,serial=VMware-56 4d 9a 3c 1e 2b 7f 80-4a 6c 11 de 0f 21 9b 55,uuid=564d9a3c-1e2b-7f80-4a6c-11de0f219b55" \
    -smbios "type=2,manufacturer=Intel Corporation,product=440BX Desktop Reference Platform,version=None,serial=None" \
    -smbios "type=3,manufacturer=No Enclosure,version=N/A,serial=None,asset=No Asset Tag" \
    -netdev user,id=n0,net=192.168.122.0/24 -device vmxnet3,netdev=n0,mac=00:50:56:a1:b2:c3 \
    -netdev user,id=n1 -device e1000,netdev=n1,mac=00:50:56:a1:b2:c4 \
    -device pvscsi,id=pvscsi0 \
    -drive if=none,id=d0,format=raw,file="$(disk vmware-sda 16G)" \
    -device "scsi-hd,drive=d0,bus=pvscsi0.0,scsi-id=0,lun=0,vendor=VMware,product=Virtual disk,serial=6000c29e1e5d4a2b8c7d,wwn=0x6000c29e1e5d4a2b"
fi

if [[ " ${targets[*]} " == *" arm64 "* ]]; then
  setup_arch arm64
  # UEFI boot (AAVMF loads -kernel through fw_cfg), so that the tree has
  # /sys/firmware/efi and the SMBIOS tables UEFI installs. A named CPU
  # (not "max", whose MIDR QEMU makes up) gives a real implementer and part.
  cp /usr/share/AAVMF/AAVMF_VARS.fd "$work/arm64-vars.fd"
  build_initrd "$work/arm64.initrd" virtio_pci virtio_net virtio_blk nvme efivarfs
  QEMU=qemu-system-aarch64 CONSOLE=ttyAMA0 run_vm arm64 \
    "capture.out=console capture.mac=52:54:00:12:34:a1 capture.ip=10.0.2.15/24 capture.gw=10.0.2.2" \
    -machine virt -cpu cortex-a72 -m 1024 -smp 4,sockets=1,cores=4,threads=1 \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd \
    -drive if=pflash,format=raw,file="$work/arm64-vars.fd" \
    -smbios type=1,manufacturer=QEMU,product=ARM-Virt-Node,serial=QEMU-ARM-0001,uuid=7a3e9c41-5b2d-4f6e-8a1c-9d0e2f3a4b5c,sku=RZ-ARM,family=Razor \
    -smbios type=2,manufacturer=QEMU,product=Virt-Board,version=1.0,serial=BOARD-ARM-0001 \
    -smbios type=3,manufacturer=QEMU,serial=CHASSIS-ARM-0001 \
    -netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:a1 \
    -drive if=none,id=d0,format=raw,file="$(disk arm64-vda 8G)" -device virtio-blk-pci,drive=d0,serial=VIRTIO-ARM-0001 \
    -drive if=none,id=d1,format=raw,file="$(disk arm64-nvme 16G)" -device nvme,drive=d1,serial=NVME-ARM-0001
fi
