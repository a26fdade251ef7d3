#!/bin/busybox sh
# PID 1 of the cgroup v2 VM. The host's root arrives read-only over 9p ("hostroot"), a tmpfs overlay
# on it makes it writable inside the guest only, and the "results" 9p export is the one way back.
# The command is <results>/guest-command.sh, run chrooted; its exit status goes to <results>/exit-status.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Written by the host at build time, in dependency order (the package ships no modules.dep).
for module in @MODULES@; do
    insmod "/lib/modules/$module.ko" || echo "vm: insmod $module failed"
done

mkdir -p /host /scratch /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host
mount -t tmpfs -o size=75% scratch /scratch
mkdir -p /scratch/upper /scratch/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/scratch/upper,workdir=/scratch/work /newroot

for dir in proc sys dev tmp run vm-results; do mkdir -p "/newroot/$dir"; done
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
# /tmp stays the overlay's (writable, the host's below it): a checkout under the host's /tmp, where CI
# may clone, must be there for the guest command to cd into. /run is fresh: no host pid or lock files.
mount -t tmpfs tmpfs /newroot/run
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot/vm-results

echo "vm: kernel $(uname -r), cgroup2 controllers: $(cat /newroot/sys/fs/cgroup/cgroup.controllers)"
status=125
if [ -f /newroot/vm-results/guest-command.sh ]; then
    # Through a pipe, so the guest's programs log as in CI, not as on a terminal (the console is one).
    set -o pipefail
    chroot /newroot /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
        LANG=C.UTF-8 /bin/sh /vm-results/guest-command.sh 2>&1 | cat
    status=$?
else
    echo "vm: no guest-command.sh in the results export"
fi
echo "$status" > /newroot/vm-results/exit-status
sync
umount /newroot/vm-results
poweroff -f
