#!/usr/bin/env python3
"""Writes BENCHMARKS.md from one `make bench` run (scripts/bench.sh calls it).

    scripts/bench_report.py --results DIR --out FILE --command CMD --cpu-n N

DIR holds what bench.sh saved: size.json, handshake.json, plan-create.json, lifecycle.json
(tfbench --out), provider-cpu.txt (provider_cpu.py's output) and *.txt (each section's text
output). FILE gets SPEC §10's figures against their targets, the per-resource times over
Terraform's floor, the machine (CPU model, cores, memory, from /proc), the exact command, the
date, and every tool's output verbatim. A section of FILE between NOTES_BEGIN and NOTES_END
(hand-written notes, such as before/after figures of a change) is kept as it is, before the
tools' output. Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU_TARGETS = {"apply": 0.3, "plan": 0.1, "destroy": 0.3}  # ms per key, SPEC §10
CPU_SHARE_TARGET = 5.0  # % of the whole command's CPU
SIZE_TARGET_MB = 8.0
RSS_TARGET_MIB = 6.0
HANDSHAKE_RATIO_TARGET = 1 / 5


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    load_avg = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    return {
        "cpu": models[0] if models else "unknown",
        "cores": f"{len(models) or os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable)",
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "unknown",
        "kernel": os.uname().release,
        "load": " ".join(load_avg),
    }


def git_head() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("met" if ok else "**missed**")


def size_rows(size: dict | None) -> tuple[float | None, float | None]:
    if not size:
        return None, None
    bins = size["binaries"]
    mine = next((b for b in bins if "keysmith" in b["path"]), None)
    peer = next((b for b in bins if "keysmith" not in b["path"]), None)
    mb = lambda b: b["stripped_bytes"] / 1e6 if b else None  # noqa: E731
    return mb(mine), mb(peer)


def handshake_rows(hs: dict | None) -> dict[str, dict[str, float | None]]:
    out = {}
    for key, runs in (hs or {}).get("results", {}).items():
        label = key.split("|")[0]
        ok = [r for r in runs if r.get("ok")]
        out[label] = {"ms": med([r["ms"] for r in ok]),
                      "rss_mib": med([r["rss_settle_kb"] / 1024 for r in ok if r.get("rss_settle_kb")])}
    return out


def provider_cpu(text: str) -> dict[str, float | None] | None:
    """Per-key ms per phase and the largest share; a phase whose provider CPU rounds to 0.00 s
    (below /usr/bin/time's 10 ms resolution) is None: not measured, rather than 0."""
    m = re.search(r"provider cpu/key ms apply ([\d.]+) plan ([\d.]+) destroy ([\d.]+); share max ([\d.]+)%", text)
    if not m:
        return None
    out: dict[str, float | None] = dict(zip(("apply", "plan", "destroy", "share"), map(float, m.groups())))
    for phase, total in re.findall(r"^(apply|plan|destroy): provider ([\d.]+) s CPU", text, re.M):
        if float(total) == 0:
            out[phase] = None
    return out


def fmt(x: float | None, unit: str = "", prec: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{prec}f}{unit}"


def lifecycle_rows(doc: dict | None) -> list[str]:
    rows = []
    if not doc:
        return rows
    for phase, per_target in doc.get("summary", {}).get("per_phase", {}).items():
        for label, rec in per_target.items():
            wall = rec.get("per_resource_wall_ms")
            cpu = rec.get("per_resource_cpu_ms")
            over = rec.get("overhead_per_resource_wall_ms")
            ratio = rec.get("slope_ratio_wall")
            rows.append(f"| {phase} | {label} | {fmt(wall and wall[1], prec=3)} | {fmt(cpu and cpu[1], prec=3)} | "
                        f"{fmt(over and over[1], prec=3)} | {fmt(ratio and ratio[1], 'x')} |")
    return rows


NOTES_BEGIN = "<!-- notes: kept as they are by make bench -->"
NOTES_END = "<!-- end of notes -->"


def kept_notes(path: Path) -> list[str]:
    """The notes section of an existing FILE, markers included; empty when there is none."""
    if not path.is_file():
        return []
    text = path.read_text()
    begin = text.find(NOTES_BEGIN)
    end = text.find(NOTES_END, begin)
    if begin < 0 or end < 0:
        return []
    return text[begin:end + len(NOTES_END)].split("\n") + [""]


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench_report.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--command", required=True, help="the command line the run was started with")
    ap.add_argument("--cpu-n", required=True, type=int, help="provider_cpu.py's --n")
    ap.add_argument("--started", help="UTC start time (ISO 8601); default: now")
    a = ap.parse_args()
    r = a.results

    mine_mb, peer_mb = size_rows(load(r / "size.json"))
    hs = handshake_rows(load(r / "handshake.json"))
    mine_hs, peer_hs = hs.get("keysmith", {}), hs.get("go", {})
    cpu_text = (r / "provider-cpu.txt").read_text() if (r / "provider-cpu.txt").is_file() else ""
    cpu = provider_cpu(cpu_text)
    ratio = (mine_hs["ms"] / peer_hs["ms"]) if mine_hs.get("ms") and peer_hs.get("ms") else None
    m = machine()

    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`scripts/bench.sh`, then `scripts/bench_report.py`); rerun it to replace",
        "this file. SPEC §10 defines the figures and targets. The machines are shared and noisy: read",
        "medians, and ratios taken in the same run, rather than one absolute time.",
        "",
        f"- **Date**: {a.started or datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"- **Command**: `{a.command}`",
        f"- **Commit**: {git_head()}",
        f"- **Machine**: {m['cpu']}; {m['cores']}; {m['memory']} memory; Linux {m['kernel']}; "
        f"load average at the end {m['load']}",
        "",
        "## SPEC §10 figures",
        "",
        "| figure | keysmith | Go framework peer (same run) | target | |",
        "|---|---|---|---|---|",
        f"| stripped binary | {fmt(mine_mb, ' MB')} | {fmt(peer_mb, ' MB')} | ≤ {SIZE_TARGET_MB:g} MB | "
        f"{verdict(mine_mb <= SIZE_TARGET_MB if mine_mb else None)} |",
        f"| exec → handshake line, AutoMTLS (median) | {fmt(mine_hs.get('ms'), ' ms')} | {fmt(peer_hs.get('ms'), ' ms')} | "
        f"≤ 1/5 of the peer's | {verdict(ratio <= HANDSHAKE_RATIO_TARGET if ratio else None)}"
        f"{f' (1/{1 / ratio:.1f} of it)' if ratio else ''} |",
        f"| RSS after handshake (median, after settling) | {fmt(mine_hs.get('rss_mib'), ' MiB', 1)} | "
        f"{fmt(peer_hs.get('rss_mib'), ' MiB', 1)} | ≤ {RSS_TARGET_MIB:g} MiB | "
        f"{verdict(mine_hs['rss_mib'] <= RSS_TARGET_MIB if mine_hs.get('rss_mib') else None)} |",
    ]
    for phase in ("apply", "plan", "destroy"):
        val = cpu[phase] if cpu else None
        shown = fmt(val, " ms", 3) if val is not None or not cpu else "not measurable: under /usr/bin/time's 10 ms resolution"
        lines.append(f"| provider's own CPU per key, {phase}{' with refresh' if phase == 'plan' else ''} "
                     f"(N = {a.cpu_n:,} Atlas keys) | {shown} | n/a | ≤ {CPU_TARGETS[phase]} ms | "
                     f"{verdict(val <= CPU_TARGETS[phase] if val is not None else None)} |")
    measured = cpu is not None and any(cpu[p] is not None for p in CPU_TARGETS)
    share = cpu["share"] if measured else None
    lines.append(f"| provider's share of the whole command's CPU (largest of the three) | {fmt(share, ' %', 1)} | n/a | "
                 f"< {CPU_SHARE_TARGET:g} % | {verdict(share < CPU_SHARE_TARGET if share is not None else None)} |")
    lines.append("")
    if a.cpu_n != 1000:
        lines += [f"SPEC §10 states the per-key CPU targets for N = 1,000; this run used N = {a.cpu_n:,}, so the",
                  "per-key figures carry more of the fixed start-up cost.", ""]

    rows = lifecycle_rows(load(r / "plan-create.json")) + lifecycle_rows(load(r / "lifecycle.json"))
    if rows:
        lines += [
            "## Per resource, over Terraform's floor",
            "",
            "tfbench's lifecycle slopes: (T(N max) − T(N min)) / (N max − N min), median over rounds; the",
            "floor is Terraform's built-in `terraform_data` (no plugin). This is mostly Terraform's own",
            "work, which grows with the schema; the provider's share is the CPU figure above.",
            "",
            "| phase | target | wall ms / resource | CPU ms / resource | wall overhead over the floor, ms | wall ratio to the floor |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]

    lines += kept_notes(a.out)
    lines += ["## The tools' output", ""]
    for name, title in (("size-handshake.txt", "size and handshake (tfbench)"),
                        ("plan-create.txt", "plan-create, offline (tfbench lifecycle)"),
                        ("lifecycle.txt", "apply / plan / destroy on the sandbox (tfbench lifecycle)"),
                        ("provider-cpu.txt", f"the provider's own CPU (provider_cpu.py --n {a.cpu_n})")):
        path = r / name
        if path.is_file():
            lines += [f"### {title}", "", "```text", path.read_text().rstrip(), "```", ""]
    a.out.write_text("\n".join(lines))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
