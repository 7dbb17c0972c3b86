#!/bin/sh
# The test guest: Debian's cloud kernel and a busybox initramfs, built from the installed
# packages linux-image-cloud-amd64 and busybox-static (./cohort-dev installs them).
#
#   tests/guest/build-guest.sh OUTDIR
#
# writes OUTDIR/vmlinuz and OUTDIR/initrd.img (cached: made again only when this script, the
# init or the kernel changed). The guest's /init (tests/guest/init) loads the virtio, ATA
# CD-ROM and isofs modules, gets an address with udhcpc, prints what the cidata disc holds
# to the serial console and opens the guest agent's port, which is all libvirt needs to say
# the agent is connected.
set -eu

out=${1:?usage: build-guest.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox

# The newest cloud kernel installed.
kver=$(ls /usr/lib/modules | grep -- '-cloud-amd64$' | sort -V | tail -n 1)
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] ||
    { echo "build-guest.sh: no cloud kernel; apt-get install linux-image-cloud-amd64" >&2; exit 1; }
[ -x "$busybox" ] && "$busybox" --list | grep -qx udhcpc ||
    { echo "build-guest.sh: no static busybox; apt-get install busybox-static" >&2; exit 1; }
command -v cpio >/dev/null || { echo "build-guest.sh: no cpio; apt-get install cpio" >&2; exit 1; }
moddir=/usr/lib/modules/$kver

stamp="$kver $(cksum <"$0") $(cksum <"$here/init") $(cksum <"$busybox")"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/initrd.img" ] &&
    [ -f "$out/vmlinuz" ]; then
    exit 0
fi

mkdir -p "$out"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys" "$root/mnt" "$root/tmp" \
    "$root/etc" "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
for applet in sh mount umount insmod ip udhcpc cat ls sleep mkdir echo grep sed head \
    blkid poweroff reboot hostname findfs tr cut uname seq; do
    ln -s busybox "$root/bin/$applet"
done
cp "$here/init" "$root/init"
chmod 755 "$root/init"
cp "$here/udhcpc.script" "$root/bin/udhcpc.script"
chmod 755 "$root/bin/udhcpc.script"

# The modules and what they depend on, in the order to load them (modules.dep lists a
# module's dependencies so that the last is loaded first).
wanted="virtio_pci virtio_net virtio_blk virtio_console ata_piix ahci sr_mod cdrom isofs"
order=$work/order
: >"$order"
add_module() {
    line=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$moddir/modules.dep" || true)
    [ -n "$line" ] || return 0 # built in, or not in this kernel
    path=${line%%:*}
    deps=${line#*:}
    for dep in $(echo "$deps" | tr ' ' '\n' | sed '1!G;h;$!d'); do
        grep -qx "$dep" "$order" || echo "$dep" >>"$order"
    done
    grep -qx "$path" "$order" || echo "$path" >>"$order"
}
for m in $wanted; do
    add_module "$m"
done
: >"$root/etc/modules"
while read -r path; do
    [ -n "$path" ] || continue
    name=$(basename "$path")
    case "$name" in
    *.ko.xz) xz -dc "$moddir/$path" >"$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
    *.ko.zst) zstd -qdc "$moddir/$path" >"$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
    *) cp "$moddir/$path" "$root/lib/modules/$name" ;;
    esac
    echo "$name" >>"$root/etc/modules"
done <"$order"

(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$work/initrd.img"
cp "/boot/vmlinuz-$kver" "$work/vmlinuz"
mv "$work/initrd.img" "$out/initrd.img"
mv "$work/vmlinuz" "$out/vmlinuz"
echo "$stamp" >"$out/stamp"
echo "build-guest.sh: $out/vmlinuz ($kver) and $out/initrd.img ($(wc -c <"$out/initrd.img") bytes, modules: $(tr '\n' ' ' <"$root/etc/modules"))"
