#!/bin/busybox sh
# PID 1 of the kdump-rs fixture guests (packed into an initramfs by
# `cargo xtask fixtures`, see docs/TESTING.md). The kernel command line picks
# the mode:
#   kdumprs.mode=workload  load modules, make a realistic memory picture
#                          (page cache, mixed anonymous memory, freed stale
#                          pages, markers), write the oracles as a tar onto the
#                          second virtio disk, print KDUMP-RS-READY and wait
#                          for the host to take dump-guest-memory
#   kdumprs.mode=kdump     the same, then `kexec -p` the capture kernel and
#                          crash with sysrq
#   kdumprs.mode=capture   (the capture kernel) copy /proc/vmcore onto the
#                          third virtio disk, print its size, power off
# kdumprs.marker=TEXT is the marker prefix the probe looks for and writes.
# kdumprs.anon_mib=N and kdumprs.stale_mib=N size the probe's anonymous and
# freed memory (64 and 32 by default); kdumprs.inode_files=N creates N empty
# files on the root (kernel inode and dentry slab; none by default).
/bin/busybox mkdir -p /proc /sys /dev /tmp /data /out
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mode=workload
marker=KDUMP-RS-MARKER
anon_mib=64
stale_mib=32
inode_files=0
for word in $(cat /proc/cmdline); do
	case "$word" in
	kdumprs.mode=*) mode=${word#*=} ;;
	kdumprs.marker=*) marker=${word#*=} ;;
	kdumprs.anon_mib=*) anon_mib=${word#*=} ;;
	kdumprs.stale_mib=*) stale_mib=${word#*=} ;;
	kdumprs.inode_files=*) inode_files=${word#*=} ;;
	esac
done

fail() {
	echo "KDUMP-RS-FAILED: $*"
	sync
	poweroff -f
}

for m in $(cat /modules.order); do
	insmod "/lib/modules/$m" || echo "kdumprs: insmod $m failed"
done
# Block devices appear asynchronously after virtio_blk loads.
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done

if [ "$mode" = capture ]; then
	echo "kdumprs: capture kernel $(uname -r), /proc/vmcore is $(stat -c %s /proc/vmcore) bytes"
	[ -b /dev/vdc ] || fail "no /dev/vdc for the vmcore"
	dd if=/proc/vmcore of=/dev/vdc bs=1M 2>/dev/null || fail "copying /proc/vmcore"
	sync
	echo "KDUMP-RS-CAPTURED size=$(stat -c %s /proc/vmcore)"
	poweroff -f
fi

mount -t ext4 -o ro /dev/vda /data || fail "mounting the data disk"
# Page cache of real files: read every file on the data disk.
cat /data/files/* > /dev/null
if [ "$inode_files" -gt 0 ]; then
	mkdir -p /inodes
	(cd /inodes && seq 1 "$inode_files" | xargs touch) || fail "creating $inode_files files"
fi
/bin/probe "$marker" /data/marker.bin "$anon_mib" "$stale_mib" > /out/markers.txt 2> /out/probe-err.txt &
# 0.2 s per try: 2.5 minutes for the default 64 MiB, 12 for 1536 MiB.
tries=$((600 + 2 * anon_mib))
n=0
while ! grep -q '^done$' /out/markers.txt 2>/dev/null; do
	sleep 0.2
	n=$((n + 1))
	[ $n -lt $tries ] || fail "probe did not finish: $(cat /out/probe-err.txt)"
done
uname -r > /out/release.txt
cat /proc/iomem > /out/iomem.txt
nproc > /out/cpus.txt
grep MemTotal /proc/meminfo > /out/meminfo.txt
ls /sys/firmware/qemu_fw_cfg/ > /out/fw_cfg.txt 2>&1
dmesg > /out/dmesg.txt
cp /proc/cmdline /out/cmdline.txt
tar -cf /dev/vdb -C /out . || fail "writing the oracles"
sync

if [ "$mode" = kdump ]; then
	kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio \
		--append="console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=-1 kdumprs.mode=capture" \
		|| fail "kexec -p"
	echo "kdumprs: capture kernel loaded: $(cat /sys/kernel/kexec_crash_loaded)"
	echo "KDUMP-RS-CRASHING"
	echo 1 > /proc/sys/kernel/sysrq
	echo c > /proc/sysrq-trigger
	fail "still alive after sysrq-c"
fi

echo "KDUMP-RS-READY"
while true; do sleep 3600; done
