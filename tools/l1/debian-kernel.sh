# Sourced by tools/l1/kernel.sh and tests/nested/l1-kernel.sh: fetch a
# Debian kernel package without installing it (apt-get download +
# dpkg-deb -x) into a cache directory, keeping what the caller picks.
#
#   debian_kernel META NAME KEEP
#     META  the metapackage (linux-image-amd64, linux-image-cloud-amd64,
#           or a foreign one: linux-image-arm64:arm64)
#     NAME  cache entry prefix: $cache/NAME-<package>-<version>/
#     KEEP  a function run with $x (the extracted package), $kver, $pkg
#           and $tmp (the entry being built); it fills $tmp/modules
# The caller sets $cache and die(). Prints the entry, with vmlinuz and
# package in it; offline, the newest cached entry.
debian_kernel() {
	meta=$1 name=$2 keep=$3
	# apt-cache takes a second; its answer changes only when apt's lists do.
	lists=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
	stamp=$cache/$name.resolved
	pkg= ver=
	if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$lists" ]; then
		read -r _ pkg ver < "$stamp"
	else
		pkg=$(apt-cache depends "$meta" 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)
		[ -n "$pkg" ] && ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
		if [ -n "$pkg" ] && [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
			mkdir -p "$cache"
			echo "$lists $pkg $ver" > "$stamp.$$" && mv "$stamp.$$" "$stamp"
		fi
	fi
	if [ -z "$pkg" ] || [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
		old=$(ls -1d "$cache/$name"-*/ 2>/dev/null | sort -V | tail -n 1)
		[ -n "$old" ] || die "cannot resolve $meta (run apt-get update)"
		echo "${old%/}"
		return 0
	fi

	# a foreign package keeps its :arch for apt, not in the entry's name
	out=$cache/$name-${pkg%:*}-$ver
	# package is written last, and the entry appears whole (mv)
	[ -f "$out/package" ] && { echo "$out"; return 0; }
	mkdir -p "$cache"
	exec 9>"$out.lock"
	flock 9
	[ -f "$out/package" ] && { echo "$out"; return 0; }

	tmp=$out.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp/deb" "$tmp/modules"
	# apt-get download writes into the current directory; _apt cannot
	# write a root-owned temp dir, which only costs a warning.
	(cd "$tmp/deb" && apt-get download -q "$pkg=$ver" >&2) || die "apt-get download $pkg=$ver failed"
	x=$tmp/x
	dpkg-deb -x "$tmp/deb"/*.deb "$x"
	kver=${pkg#linux-image-}
	kver=${kver%:*}
	cp "$x/boot/vmlinuz-$kver" "$tmp/vmlinuz"
	"$keep"
	echo "$pkg $ver" > "$tmp/package"
	rm -rf "$tmp/deb" "$x"
	rm -rf "$out"
	mv "$tmp" "$out"
	echo "$out"
}
