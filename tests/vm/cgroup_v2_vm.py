"""Run a command on a real cgroup v2 kernel: Debian's kernel booted in qemu (TCG), the host's root
read-only over 9p under a tmpfs overlay, a writable 9p export of a results directory as the way back.

Our machines bind the controllers to cgroup v1, so this is where the v2 backend meets a real kernel.
The kernel package comes from the apt registry; its vmlinuz, the 9p/virtio/overlay modules and a
busybox initramfs are cached under CACHE/<package>_<version>/, so only the first run downloads.

    python3 tests/vm/cgroup_v2_vm.py --results DIR -- COMMAND...

runs COMMAND with /bin/sh in the guest, in the current directory, with $VM_RESULTS the export, and
exits with its status (1 if the guest wrote none: a crash or the timeout). Needs qemu-system-x86,
busybox-static and apt (Debian).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
INIT_SCRIPT = HERE / "guest_init.sh"
BUSYBOX = Path("/bin/busybox")
META_PACKAGE = "linux-image-amd64"  # depends on the current linux-image-<abi>-amd64
# What the init needs; their dependencies are found from each module's .modinfo.
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
DEFAULT_CACHE = Path("~/.cache/reliability/cgroup-v2-vm")
GUEST_RESULTS = "/vm-results"


class VmError(Exception):
    """A step of building or booting the VM failed; the message says which."""


def _output(*argv: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise VmError(f"{argv[0]} not found (apt-get install qemu-system-x86 busybox-static)") from e
    if done.returncode != 0:
        raise VmError(f"{' '.join(argv)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def kernel_package() -> tuple[str, str]:
    """(name, version) of the kernel image package Debian's meta package points at today."""
    match = re.search(r"Depends: (linux-image-\S+)", _output("apt-cache", "depends", META_PACKAGE))
    if not match:
        raise VmError(f"apt-cache depends {META_PACKAGE} names no kernel image (apt-get update?)")
    name = match.group(1)
    version = re.search(r"^Version: (\S+)", _output("apt-cache", "show", "--no-all-versions", name), re.M)
    if not version:
        raise VmError(f"apt-cache show {name} gives no version")
    return name, version.group(1)


def modinfo_depends(ko: Path) -> list[str]:
    match = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko.read_bytes())
    return [d for d in match.group(1).decode().split(",") if d] if match else []


def modules_in_load_order(module_dir: Path, wanted: tuple[str, ...]) -> list[Path]:
    """The wanted modules and everything they depend on, each after its dependencies."""
    by_name = {ko.name[: -len(".ko")].replace("-", "_"): ko for ko in module_dir.rglob("*.ko")}
    order: list[Path] = []

    def visit(name: str) -> None:
        ko = by_name.get(name.replace("-", "_"))
        if ko is None:
            raise VmError(f"module {name} is not in the kernel package (built in? renamed?)")
        if ko in order:
            return
        for dep in modinfo_depends(ko):
            visit(dep)
        order.append(ko)

    for name in wanted:
        visit(name)
    return order


def _cpio_entry(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    # The "newc" format the kernel unpacks: a hex header, the name, then the data, each padded to 4.
    fields = [0, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def initramfs(modules: list[Path], init: bytes) -> bytes:
    entries = [_cpio_entry(d, 0o40755) for d in ("bin", "dev", "lib", "lib/modules", "proc", "sys")]
    entries.append(_cpio_entry("dev/console", 0o20600, rdev=(5, 1)))  # init's stdio, before devtmpfs
    entries.append(_cpio_entry("bin/busybox", 0o100755, BUSYBOX.read_bytes()))
    entries.append(_cpio_entry("init", 0o100755, init))
    for ko in modules:
        entries.append(_cpio_entry(f"lib/modules/{ko.name}", 0o100644, ko.read_bytes()))
    entries.append(_cpio_entry("TRAILER!!!", 0))
    return b"".join(entries)


def build(cache: Path) -> tuple[Path, Path]:
    """(vmlinuz, initramfs) for the current kernel package, from the cache or built into it."""
    if not BUSYBOX.is_file():
        raise VmError(f"{BUSYBOX} not found (apt-get install busybox-static)")
    name, version = kernel_package()
    entry = cache.expanduser() / f"{name}_{version}"
    if not (entry / "vmlinuz").exists():
        print(f"vm: downloading {name} {version} from the apt registry", flush=True)
        entry.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=entry.parent) as tmp:
            work = Path(tmp)
            _output("apt-get", "download", f"{name}={version}", cwd=work)
            deb = next(work.glob("*.deb"))
            _output("dpkg-deb", "-x", str(deb), str(work / "root"))
            staged = work / "entry"
            (staged / "modules").mkdir(parents=True)
            shutil.copy(next((work / "root" / "boot").glob("vmlinuz-*")), staged / "vmlinuz")
            release_dirs = list((work / "root").glob("lib/modules/*")) + list(
                (work / "root").glob("usr/lib/modules/*")
            )
            for i, ko in enumerate(modules_in_load_order(release_dirs[0], MODULES)):
                shutil.copy(ko, staged / "modules" / f"{i:02d}-{ko.name}")
            staged.rename(entry)  # atomic: a cache entry is whole or absent
    modules = sorted((entry / "modules").glob("*.ko"))
    init = INIT_SCRIPT.read_text().replace("@MODULES@", " ".join(ko.name[: -len(".ko")] for ko in modules))
    key = hashlib.sha256(init.encode() + BUSYBOX.read_bytes()).hexdigest()[:12]
    image = entry / f"initramfs-{key}.cpio"
    if not image.exists():
        partial = image.with_suffix(".partial")
        partial.write_bytes(initramfs(modules, init.encode()))
        partial.rename(image)
    return entry / "vmlinuz", image


def qemu_argv(kernel: Path, image: Path, results: Path, memory_mb: int, cpus: int) -> list[str]:
    return [
        "qemu-system-x86_64",
        "-accel", "tcg", "-cpu", "max", "-m", str(memory_mb), "-smp", str(cpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-nic", "none",
        "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(image),
        "-append", "console=ttyS0 panic=-1 quiet rdinit=/init",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={results},mount_tag=results,security_model=none,multidevs=remap",
    ]  # fmt: skip


def run(command: list[str], results: Path, cache: Path, memory_mb: int, cpus: int, timeout_s: float) -> int:
    kernel, image = build(cache)
    results = results.resolve()
    results.mkdir(parents=True, exist_ok=True)
    status_file = results / "exit-status"
    status_file.unlink(missing_ok=True)
    (results / "guest-command.sh").write_text(
        f"cd {shlex.quote(os.getcwd())} || exit 125\nexport VM_RESULTS={GUEST_RESULTS}\n{shlex.join(command)}\n"
    )
    argv = qemu_argv(kernel, image, results, memory_mb, cpus)
    print(f"vm: {kernel.parent.name}, results in {results}", flush=True)
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise VmError("qemu-system-x86_64 not found (apt-get install qemu-system-x86)") from None
    except subprocess.TimeoutExpired:
        print(f"vm: no result after {timeout_s:.0f} s; qemu was killed", flush=True)
        return 1
    if not status_file.exists():
        print("vm: the guest wrote no exit status (it crashed or its init failed)", flush=True)
        return 1
    return int(status_file.read_text().strip() or 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, required=True, help="directory the guest writes to")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"default {DEFAULT_CACHE}")
    parser.add_argument("--memory", type=int, default=3072, help="guest memory in MiB")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before qemu is killed")
    parser.add_argument("command", nargs="+", help="run with /bin/sh in the guest")
    args = parser.parse_args(argv)
    try:
        return run(args.command, args.results, args.cache, args.memory, args.cpus, args.timeout)
    except VmError as e:
        print(f"cgroup_v2_vm: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
