#!/bin/busybox sh
# PID 1 of the end-to-end guests of `cargo xtask guest-kexec`, `e2e`, `demo`
# and the crashkernel= boots of `cargo xtask fixtures` (xtask/src/e2e.rs,
# xtask/src/fixtures/ckboots.rs). Every line meant for the host starts with
# "KDUMP-RS-E2E: "; a failure prints "KDUMP-RS-FAILED: why" and powers off.
# The kernel command line picks the mode (kdumprs.e2e=MODE):
#   kexec     arm kdump with our static kexec-load (status, load, unload,
#             load again), then crash with sysrq
#   check     (the capture kernel) print /proc/vmcore's size and ELF magic
#   ckboot    print /proc/iomem, the kernel's "Memory:" line and the crash
#             kernel state, then power off
#   cycle     kexec, plus a page-cache marker and an anonymous-memory marker
#             (kdumprs.marker=TEXT) before the crash
#   capture   (the capture kernel of cycle) run vmcore-capture -l -d 31,
#             -z -d 1 and -F -d 31 (stdout) from /proc/vmcore into files on
#             the ext4 disk /dev/vda, copy the head of /proc/vmcore (its ELF
#             and program headers) there too, then power off
#   reboot    load a kexec kernel with kexec-load -l -c (kexec_load, our
#             segments and purgatory), check -S -l, and boot it with -e
#   rebooted  (the kernel -e started) say so, then power off
#   corrupt   load the crash kernel with -c and one initrd byte flipped after
#             the digest (KEXEC_LOAD_CORRUPT_SEGMENT), then crash: the purgatory
#             must refuse to start the capture kernel
# kdumprs.kexec=file|classic picks the load syscall of kexec and cycle: file
# loads with -s; classic first shows -a falling back to kexec_load on an image
# the file syscall refuses (/boot/vmlinuz-no4g, XLF_CAN_BE_LOADED_ABOVE_4G
# cleared by the host), then prints the -c --dry-run plan and loads with -c.
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin:/sbin

mode=none
marker=KDUMP-RS-E2E-MARKER
kexec=file
for word in $(cat /proc/cmdline); do
	case "$word" in
	kdumprs.e2e=*) mode=${word#*=} ;;
	kdumprs.marker=*) marker=${word#*=} ;;
	kdumprs.kexec=*) kexec=${word#*=} ;;
	esac
done

say() { echo "KDUMP-RS-E2E: $*"; }
fail() {
	echo "KDUMP-RS-FAILED: $*"
	sync
	poweroff -f
	sleep 60
}
loaded() { cat /sys/kernel/kexec_crash_loaded; }

# kdump-config status --json into /tmp/kdc-$1.json, its key facts on the console.
kdc() {
	kdump-config status --json >/tmp/kdc-"$1".json 2>/tmp/kdc-"$1".err ||
		fail "kdump-config status --json $1 kexec-load -p (exit $?): $(cat /tmp/kdc-"$1".err)"
	say "kdump-config status --json $1 kexec-load -p: $(grep -E '"(crash_loaded|kexec_crash_size|reserved_total)"' /tmp/kdc-"$1".json | tr -d ' \n')"
}

# The capture kernel's command line (the loader adds elfcorehdr=).
capture_append="console=ttyS0 no_timer_check irqpoll nr_cpus=1 reset_devices panic=-1 kdumprs.e2e=check"
[ "$mode" = cycle ] && capture_append="console=ttyS0 no_timer_check irqpoll nr_cpus=1 reset_devices panic=-1 kdumprs.e2e=capture kdumprs.marker=$marker"

load_modules() {
	[ -f /modules.order ] || return 0
	for m in $(cat /modules.order); do
		insmod "/lib/modules/$m" || say "insmod $m failed"
	done
	n=0
	while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
}

# kexec(8): -S exits 1 when the crash kernel is loaded, 0 when not.
arm_kdump() {
	say "kernel $(uname -r), $(nproc) CPUs, crash kernel size $(cat /sys/kernel/kexec_crash_size), load syscall $kexec"
	kexec-load -S -p
	rc=$?
	say "kexec-load -S -p before loading: exit $rc"
	[ $rc = 0 ] || fail "kexec-load -S -p said loaded (exit $rc) before any load"
	if [ "$kexec" = classic ]; then
		# No -d: KEXEC_FILE_DEBUG is unknown before Linux 6.8 and would itself make
		# kexec_file_load fail with EINVAL; the refusal must be the image's. No
		# initrd: without XLF_CAN_BE_LOADED_ABOVE_4G it must lie below
		# initrd_addr_max (2 GiB), and the 4 GiB guest's crash region is above that
		# (the plan refuses it rightly); this load is unloaded again, never booted.
		kexec-load -p -a /boot/vmlinuz-no4g --append="$capture_append" \
			>/tmp/auto.out 2>/tmp/auto.err || fail "kexec-load -p -a (exit $?): $(tail -3 /tmp/auto.err)"
		grep 'falling back to kexec_load' /tmp/auto.err | sed 's/^/KDUMP-RS-E2E: -a: /'
		grep -q 'errno 8 (BadImage).*falling back to kexec_load' /tmp/auto.err ||
			fail "kexec-load -a did not fall back to kexec_load on ENOEXEC: $(tail -3 /tmp/auto.err)"
		say "kexec-load -p -a (fallback): kexec_crash_loaded=$(loaded)"
	else
		kexec-load -p -s /boot/vmlinuz --initrd=/boot/capture.cpio --append="$capture_append" ||
			fail "kexec-load -p (exit $?)"
		say "kexec-load -p: kexec_crash_loaded=$(loaded)"
	fi
	[ "$(loaded)" = 1 ] || fail "kexec_crash_loaded is $(loaded) after kexec-load -p"
	kexec-load -S -p
	rc=$?
	say "kexec-load -S -p after loading: exit $rc"
	[ $rc = 1 ] || fail "kexec-load -S -p exit $rc with a crash kernel loaded"
	kexec-load -u -p || fail "kexec-load -u -p (exit $?)"
	say "kexec-load -u -p: kexec_crash_loaded=$(loaded)"
	[ "$(loaded)" = 0 ] || fail "kexec_crash_loaded is $(loaded) after kexec-load -u -p"
	kexec-load -S -p
	rc=$?
	say "kexec-load -S -p after unloading: exit $rc"
	[ $rc = 0 ] || fail "kexec-load -S -p exit $rc after unloading"
	if [ "$kexec" = classic ]; then
		kexec-load -c -p --dry-run /boot/vmlinuz --initrd=/boot/capture.cpio --append="$capture_append" \
			>/tmp/plan.txt 2>/tmp/plan.err || fail "kexec-load -c -p --dry-run (exit $?): $(tail -3 /tmp/plan.err)"
		sed 's/^/KDUMP-RS-E2E: plan: /' /tmp/plan.txt
		kexec-load -c -p /boot/vmlinuz --initrd=/boot/capture.cpio --append="$capture_append" 2>/tmp/load.err ||
			fail "kexec-load -c -p (exit $?): $(tail -3 /tmp/load.err)"
	else
		kexec-load -p -s /boot/vmlinuz --initrd=/boot/capture.cpio --append="$capture_append" ||
			fail "kexec-load -p again (exit $?)"
	fi
	say "kexec-load -p again: kexec_crash_loaded=$(loaded)"
	[ "$(loaded)" = 1 ] || fail "kexec_crash_loaded is $(loaded) after loading again"
}

crash() {
	say "CRASHING"
	echo 1 > /proc/sys/kernel/sysrq
	echo c > /proc/sysrq-trigger
	fail "still alive after sysrq-c"
}

case "$mode" in
kexec)
	arm_kdump
	crash
	;;
check)
	[ -e /proc/vmcore ] || fail "no /proc/vmcore in the capture kernel"
	size=$(stat -c %s /proc/vmcore)
	magic=$(head -c 4 /proc/vmcore | od -An -tx1 | tr -d ' \n')
	say "capture kernel $(uname -r) up; /proc/vmcore size=$size magic=$magic"
	[ "$magic" = 7f454c46 ] || fail "/proc/vmcore starts with $magic, not the ELF magic"
	say "CAPTURE-CHECKED"
	poweroff -f
	;;
ckboot)
	say "kernel $(uname -r)"
	dmesg | grep -E 'Memory: [0-9]+K/[0-9]+K available|crashkernel|Crash kernel|e820: |BIOS-e820: ' | sed 's/^/KDUMP-RS-E2E: dmesg: /'
	sed 's/^/KDUMP-RS-E2E: iomem: /' /proc/iomem
	say "kexec_crash_size=$(cat /sys/kernel/kexec_crash_size)"
	say "CKBOOT-DONE"
	poweroff -f
	;;
reboot)
	say "kernel $(uname -r), $(nproc) CPUs, before kexec-load -e"
	kexec-load -S -l
	rc=$?
	say "kexec-load -S -l before loading: exit $rc"
	[ $rc = 0 ] || fail "kexec-load -S -l said loaded (exit $rc) before any load"
	kexec-load -l -c /boot/vmlinuz --initrd=/boot/capture.cpio \
		--append="console=ttyS0 no_timer_check panic=-1 kdumprs.e2e=rebooted" 2>/tmp/l.err ||
		fail "kexec-load -l -c (exit $?): $(tail -3 /tmp/l.err)"
	kexec-load -S -l
	rc=$?
	say "kexec-load -l -c: kexec_loaded=$(cat /sys/kernel/kexec_loaded), -S -l exit $rc"
	[ $rc = 1 ] || fail "kexec-load -S -l exit $rc with a kexec kernel loaded"
	say "KEXEC-EXEC"
	kexec-load -e
	fail "kexec-load -e returned (exit $?)"
	;;
corrupt)
	KEXEC_LOAD_CORRUPT_SEGMENT=initrd kexec-load -c -p /boot/vmlinuz --initrd=/boot/capture.cpio \
		--append="$capture_append" 2>/tmp/c.err || fail "kexec-load -c -p (exit $?): $(tail -3 /tmp/c.err)"
	sed 's/^/KDUMP-RS-E2E: /' /tmp/c.err
	say "kexec-load -c -p (corrupted initrd): kexec_crash_loaded=$(loaded)"
	crash
	;;
rebooted)
	vmcore=absent
	[ -e /proc/vmcore ] && vmcore=present
	say "rebooted by kexec-load -e into $(uname -r); /proc/vmcore $vmcore"
	say "REBOOTED"
	poweroff -f
	;;
cycle)
	load_modules
	kdc before
	grep -q '"crash_loaded": false' /tmp/kdc-before.json ||
		fail "kdump-config status says a capture kernel is loaded before kexec-load -p"
	grep -q '"reserved_total": [1-9]' /tmp/kdc-before.json ||
		fail "kdump-config status sees no crash kernel reservation"
	arm_kdump
	kdc after
	grep -q '"crash_loaded": true' /tmp/kdc-after.json ||
		fail "kdump-config status does not see the capture kernel kexec-load -p loaded"
	# The page-cache marker: a file on tmpfs lives only in the page cache.
	i=0
	while [ $i -lt 64 ]; do
		echo "$marker-page-cache $i"
		i=$((i + 1))
	done > /tmp/marker.txt
	say "page-cache marker written ($(stat -c %s /tmp/marker.txt) bytes in /tmp/marker.txt)"
	# The anonymous marker: held in a shell variable of a live process.
	anon=""
	i=0
	while [ $i -lt 256 ]; do
		anon="$anon$marker-anon $i "
		i=$((i + 1))
	done
	say "anonymous marker in pid $$ (${#anon} bytes)"
	crash
	;;
capture)
	load_modules
	[ -e /proc/vmcore ] || fail "no /proc/vmcore in the capture kernel"
	say "capture kernel $(uname -r) up; /proc/vmcore size=$(stat -c %s /proc/vmcore)"
	mount -t ext4 /dev/vda /mnt || fail "mounting the dump disk"
	t0=$(cut -d. -f1 /proc/uptime)
	vmcore-capture -l -d 31 /proc/vmcore /mnt/dump-l-d31.kdump || fail "vmcore-capture -l -d 31 (exit $?)"
	t1=$(cut -d. -f1 /proc/uptime)
	say "vmcore-capture -l -d 31: $(stat -c %s /mnt/dump-l-d31.kdump) bytes in $((t1 - t0)) s"
	vmcore-capture -z -d 1 /proc/vmcore /mnt/dump-z-d1.kdump || fail "vmcore-capture -z -d 1 (exit $?)"
	t2=$(cut -d. -f1 /proc/uptime)
	say "vmcore-capture -z -d 1: $(stat -c %s /mnt/dump-z-d1.kdump) bytes in $((t2 - t1)) s"
	vmcore-capture -F -d 31 /proc/vmcore > /mnt/dump-F-d31.flat || fail "vmcore-capture -F -d 31 (exit $?)"
	t3=$(cut -d. -f1 /proc/uptime)
	say "vmcore-capture -F -d 31 > stdout: $(stat -c %s /mnt/dump-F-d31.flat) bytes in $((t3 - t2)) s"
	head -c 65536 /proc/vmcore > /mnt/vmcore-head.bin || fail "copying the head of /proc/vmcore"
	umount /mnt || fail "unmounting the dump disk"
	sync
	say "CAPTURED"
	poweroff -f
	;;
*)
	fail "unknown kdumprs.e2e mode '$mode'"
	;;
esac
