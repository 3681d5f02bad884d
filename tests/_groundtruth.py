"""Parse the ground-truth counts table out of the corpus README."""

from __future__ import annotations

from pathlib import Path

COLUMNS = ["sched_switch", "sched_waking", "sched_wakeup", "sched_wakeup_new",
           "sched_migrate_task", "sched_process_fork", "sched_process_exec",
           "sched_process_exit", "sched_stat_runtime"]


def parse_ground_truth(readme: Path) -> dict[str, dict]:
    out = {}
    in_table = False
    for line in readme.read_text().splitlines():
        if line.startswith("| file | CPUs with events |"):
            in_table = True
            continue
        if in_table:
            if not line.startswith("|"):
                break
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0].startswith("---"):
                continue
            name = cells[0].strip("`")
            nums = [int(c.replace(",", "")) for c in cells[1:]]
            out[name] = {"cpus": nums[0], "counts": dict(zip(COLUMNS, nums[1:]))}
    return out
