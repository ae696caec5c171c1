#!/usr/bin/env python3
# The oracle of vmcore-introspect's fixture tests: drgn (PyPI, 0.3.0) with the kernel's
# -dbg vmlinux (the fixture cache's dbg/<release>/vmlinux-<release>, fetched as
# `cargo xtask e2e` fetches it) reads a fixture dump and writes what it finds as JSON:
#
#   symbols: a deterministic sample of the vmlinux's uniquely named function (and, where
#            kallsyms has data symbols, object) symbols, with their link-time address (the
#            vmlinux alone, as System.map has it) and their run-time address (drgn with
#            the dump, KASLR applied);
#   tasks:   every task drgn's for_each_task() finds (the PID table) plus each online CPU's
#            idle task: PID, PPID (real_parent), CPU, task address, state letter, comm;
#   modules: for_each_module(): name, struct module address, core base and size.
#
# usage: drgn_oracle.py VMLINUX DUMP OUT.json [--objects]
#   --objects: the kernel has CONFIG_KALLSYMS_ALL (data symbols in kallsyms; Debian's amd64
#   kernels, not its arm64 ones), so sample object symbols too.
import json
import os
import subprocess
import sys

import drgn
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.module import for_each_module
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import idle_task, task_cpu, task_state_to_char

vmlinux, dump, out = sys.argv[1:4]
objects = "--objects" in sys.argv[4:]

prog = drgn.Program()
prog.set_core_dump(dump)
prog.load_debug_info([vmlinux])

# Link-time symbols straight from the vmlinux's ELF symbol table (`readelf -sW`, any
# architecture), as System.map has them.
elf_syms = []
for line in subprocess.run(
    ["readelf", "-sW", vmlinux], check=True, capture_output=True, text=True
).stdout.splitlines():
    f = line.split()
    if len(f) == 8 and f[0].endswith(":") and f[4] in ("GLOBAL", "LOCAL", "WEAK"):
        elf_syms.append((int(f[1], 16), int(f[2], 0), f[3], f[7]))

kinds = {"FUNC"} | ({"OBJECT"} if objects else set())
count = {}
for _, _, _, name in elf_syms:
    count[name] = count.get(name, 0) + 1
by_name = {name: addr for addr, _, _, name in elf_syms}
cands = sorted(
    (addr, name)
    for addr, size, kind, name in elf_syms
    if count[name] == 1
    and kind in kinds
    and size > 0
    and not name.startswith(("$", ".L", "__efistub_", "__pi_", "__kvm_nvhe_", "__crc_"))
)
if not objects:
    # Without CONFIG_KALLSYMS_ALL, kallsyms holds only the symbols of the kernel's text
    # ranges (scripts/kallsyms.c: _stext.._etext, _sinittext.._einittext), not .exit.text.
    ranges = [(by_name["_stext"], by_name["_etext"]), (by_name["_sinittext"], by_name["_einittext"])]
    cands = [c for c in cands if any(lo <= c[0] < hi for lo, hi in ranges)]
stride = max(1, len(cands) // 300)
picked = cands[::stride]
for must in ["_stext", "schedule", "panic", "sysrq_handle_crash"] + (
    ["init_task", "runqueues", "__per_cpu_offset", "__start_BTF", "jiffies"] if objects else []
):
    if must in by_name and (by_name[must], must) not in picked:
        picked.append((by_name[must], must))
symbols = []
for addr, name in picked:
    symbols.append({"name": name, "link_address": addr, "address": prog.symbol(name).address})

tasks = {}


def add(t):
    tasks[t.value_()] = {
        "pid": int(t.pid),
        "ppid": int(t.real_parent.pid),
        "cpu": int(task_cpu(t)),
        "task": t.value_(),
        "state": task_state_to_char(t),
        "comm": t.comm.string_().decode(errors="replace"),
    }


for t in for_each_task(prog):
    add(t)
for cpu in for_each_online_cpu(prog):
    add(idle_task(prog, cpu))

modules = []
for m in for_each_module(prog):
    try:
        base, size = m.core_layout.base, m.core_layout.size
    except AttributeError:  # Linux 6.4+: mem[MOD_TEXT]
        base, size = m.mem[0].base, m.mem[0].size
    modules.append(
        {"name": m.name.string_().decode(), "module": m.value_(), "base": base.value_(), "size": int(size)}
    )

with open(out, "w") as f:
    json.dump(
        {
            "oracle": "drgn " + drgn.__version__,
            "vmlinux": vmlinux.rsplit("/", 1)[-1],
            "dump": dump,
            # Lets the tests tell a stale oracle (the fixture dump remade since) from a bug.
            "dump_size": os.path.getsize(dump),
            "symbols": symbols,
            "tasks": sorted(tasks.values(), key=lambda t: (t["pid"], t["task"])),
            "modules": modules,
        },
        f,
        indent=1,
    )
    f.write("\n")
