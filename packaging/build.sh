#!/usr/bin/env bash
# build.sh deb|dist OUTDIR — the release artefacts, from a source tree.
#
#   deb   OUTDIR/razor-mk_<version>_<arch>.deb, built with dpkg-deb: the
#         three static binaries, the prebuilt agents mkbuild uses outside
#         a source tree, the systemd unit, /etc/razor/razor-netboot.yaml
#         (a conffile, every key commented out) and the docs.
#   dist  OUTDIR/razor-mk-<version>-linux-{amd64,arm64}.tar.gz, each laid
#         out like /usr (bin/, lib/, share/) plus etc/, and SHA256SUMS.
#
# Environment: GO (go), VERSION and COMMIT (stamped into the binaries;
# default git describe / rev-parse), DEB_ARCH (default: this machine's),
# SOURCE_DATE_EPOCH (default: the last commit's time).
set -euo pipefail

cd "$(dirname "$0")/.."
mode=${1:?usage: build.sh deb|dist OUTDIR}
out=${2:?usage: build.sh deb|dist OUTDIR}
GO=${GO:-go}
PKG=github.com/razor-mk/razor-mk
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export CGO_ENABLED=0 GOFLAGS=
LDFLAGS="-s -w -X $PKG/internal/version.Version=$VERSION -X $PKG/internal/version.Commit=$COMMIT"
AGENT_ARCHES=(amd64 arm64)
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# debversion turns git describe output into a Debian version: v1.2.0 ->
# 1.2.0, v1.2.0-3-gabc -> 1.2.0+3.gabc; a bare commit -> 0~git<date>.<hash>.
debversion() {
	local v=${VERSION#v}
	if [[ $v =~ ^[0-9]+\.[0-9] ]]; then
		v=${v/-dirty/+dirty}
		echo "${v//-/+}" | sed 's/+\([0-9]*\)+g/+\1.g/'
	else
		echo "0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).${v//-/.}"
	fi
}

gobuild() { # GOARCH OUTPUT PACKAGE [TAGS]
	local tags=()
	if [ -n "${4:-}" ]; then tags=(-tags "$4"); fi
	GOOS=linux GOARCH=$1 "$GO" build -trimpath -buildvcs=false "${tags[@]}" -ldflags "$LDFLAGS" -o "$2" "$3"
}

# stage ROOT ARCH PREFIX: the files under ROOT, binaries for ARCH,
# /usr-like paths under ROOT/PREFIX.
stage() {
	local root=$1 arch=$2 prefix=$3
	local bin=$root/$prefix/bin lib=$root/$prefix/lib share=$root/$prefix/share
	mkdir -p "$bin" "$lib/razor-mk/agent" "$lib/systemd/system" "$share/doc/razor-mk" "$share/razor-mk/images" "$root/etc/razor"
	for p in razor-netboot mkbuild mk-agent; do
		gobuild "$arch" "$bin/$p" "./cmd/$p"
	done
	# The agents mkbuild embeds in images, for every architecture it
	# builds for; names as builder.PrebuiltName gives them.
	for a in "${AGENT_ARCHES[@]}"; do
		gobuild "$a" "$lib/razor-mk/agent/mk-agent-$a" ./cmd/mk-agent
		gobuild "$a" "$lib/razor-mk/agent/mk-agent-$a-dev" ./cmd/mk-agent dev
	done
	install -m 0644 packaging/razor-netboot.service "$lib/systemd/system/"
	install -m 0644 images/*.yaml "$share/razor-mk/images/"
	{
		echo "# /etc/razor/razor-netboot.yaml — razor-netboot serve's configuration,"
		echo "# read by razor-netboot.service. Every key is commented out at its"
		echo "# default: uncomment and change what you need, then"
		echo "#   systemctl enable --now razor-netboot   (or: systemctl restart razor-netboot)"
		echo "# See /usr/share/doc/razor-mk/operations.md."
		echo "#"
		sed -E 's/^([a-z_]+:)/# \1/' examples/razor-netboot.yaml
	} >"$root/etc/razor/razor-netboot.yaml"
	chmod 0644 "$root/etc/razor/razor-netboot.yaml"
	install -m 0644 README.md "$share/doc/razor-mk/"
	if [ -d docs ]; then install -m 0644 docs/*.md "$share/doc/razor-mk/"; fi
	install -m 0644 packaging/debian/copyright "$share/doc/razor-mk/copyright"
}

changelog() { # FILE
	local date
	date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
	cat >"$1" <<EOC
razor-mk ($(debversion)) unstable; urgency=medium

  * Built from commit $COMMIT ($VERSION).

 -- Razor MK maintainers <maintainers@users.noreply.r-seed-b319cbb2.example>  $date
EOC
	gzip -9n "$1"
}

deb() {
	local arch=${DEB_ARCH:-$(dpkg --print-architecture)}
	local root=$work/deb version
	version=$(debversion)
	stage "$root" "$arch" usr
	# Debian 12 installs units under /lib/systemd/system (usrmerge moves
	# them later; dpkg must see the aliased path once).
	mkdir -p "$root/lib/systemd"
	mv "$root/usr/lib/systemd/system" "$root/lib/systemd/system"
	rmdir "$root/usr/lib/systemd"
	changelog "$root/usr/share/doc/razor-mk/changelog"
	mkdir -p "$root/usr/share/lintian/overrides"
	install -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/razor-mk"
	mkdir -p "$root/DEBIAN"
	local size
	size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
	sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/debian/control.in >"$root/DEBIAN/control"
	echo /etc/razor/razor-netboot.yaml >"$root/DEBIAN/conffiles"
	install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
	find "$root" -type d -exec chmod 0755 {} +
	local deb=$out/razor-mk_${version}_${arch}.deb
	dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
	echo "$deb"
}

dist() {
	local files=()
	for arch in amd64 arm64; do
		local name=razor-mk-$VERSION-linux-$arch
		local root=$work/$name
		stage "$root" "$arch" .
		changelog "$root/share/doc/razor-mk/changelog"
		(cd "$root" && find . -type f ! -name SHA256SUMS -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum >SHA256SUMS)
		tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
			-C "$work" -czf "$out/$name.tar.gz" "$name"
		files+=("$name.tar.gz")
	done
	(cd "$out" && sha256sum "${files[@]}" >SHA256SUMS)
	for f in "${files[@]}"; do echo "$out/$f"; done
	echo "$out/SHA256SUMS"
}

case $mode in
deb) deb ;;
dist) dist ;;
*) echo "usage: build.sh deb|dist OUTDIR" >&2; exit 2 ;;
esac
