"""Machine topology: CPUs grouped into SMT cores, LLCs, NUMA nodes and performance
domains, with CPU capacities and, optionally, the kernel's energy model.

Where a topology comes from (``--topology``):

* ``host`` — this machine, read from ``/sys/devices/system/cpu`` and
  ``/sys/devices/system/node``;
* ``SxCxT`` (e.g. ``2x16x2``) — S sockets of C cores of T hardware threads,
  one LLC and one NUMA node per socket, node distance 10 local / 20 remote
  (Linux's LOCAL_DISTANCE / REMOTE_DISTANCE). CPUs are numbered the way Linux
  numbers x86 machines: first thread of every core socket by socket, then the
  second threads (cpu = t * S*C + s*C + c);
* a ``.json``, ``.toml`` or ``.yaml`` file: ``cpus`` = list of {cpu, core, llc,
  node, capacity (optional, default 1024), pd (optional: the CPU's performance
  domain, any label; default its llc)}, optional ``distance`` = node distance
  matrix (list of lists), optional ``energy`` = the energy model: one table per
  performance domain in order of each domain's lowest CPU (a list, not a mapping);
  or, for a phone or a board, two lines: ``clusters`` = the CPUs of each cluster
  (one LLC and one performance domain each, no SMT, one node) and ``capacity`` =
  one per CPU or one per cluster, optionally ``energy`` = one table per cluster, in
  the order of ``clusters``; optionally ``kernel`` = the kernel version the machine
  ran. An energy table is a list of ``[frequency_khz, power_mw]`` pairs, ascending
  and distinct frequencies > 0, powers >= 0: what one CPU of the domain draws
  running at that frequency (the kernel's energy model, em_perf_state);
* a LISA platform description (``plat_info.yml``, what LISA saves beside its
  traces): ``cpu-capacities`` (``orig``), ``freq-domains`` as the clusters and
  the performance domains, the kernel release, and ``nrg-model`` (when present)
  as the energy model: each frequency domain's first CPU's active states;
* nothing — what the trace records (its ``cpus`` table), which for most
  formats is one node, one LLC and no SMT over the trace's CPUs.

Ids are canonical: a core, LLC, node or performance domain is named by its position
in order of its lowest CPU, so two topologies that group CPUs the same way compare equal.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from traces.errors import TraceError

LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20
_SPEC_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*$")


@dataclass(frozen=True, eq=False)
class Topology:
    """CPU -> core, LLC, node, capacity (1024 = the biggest CPU), plus node distances."""

    core: np.ndarray
    llc: np.ndarray
    node: np.ndarray
    capacity: np.ndarray
    distance: np.ndarray
    name: str = ""
    #: the kernel version the description names ("" when it names none): a LISA
    #: platform description records it, and a trace that does not say which kernel
    #: recorded it takes it from there
    kernel: str = ""
    #: per CPU, its performance domain (a cpufreq policy: the CPUs that share one clock),
    #: canonical ids; a copy of ``llc`` when not given
    pd: np.ndarray | None = None
    #: the kernel's energy model, or None: one table per performance domain (indexed by
    #: pd id), each a tuple of (frequency_khz: int, power_mw: float) pairs in ascending
    #: frequency, the power one CPU of the domain draws running at that frequency
    energy: tuple | None = None

    def __post_init__(self):
        n = len(self.core)
        if self.pd is None:
            object.__setattr__(self, "pd", self.llc.copy())
        for a in (self.llc, self.node, self.capacity, self.pd):
            if len(a) != n:
                raise ValueError("topology arrays differ in length")
        k = int(self.node.max()) + 1 if n else 0
        if self.distance.shape != (k, k):
            raise ValueError(f"distance matrix is {self.distance.shape}, expected ({k}, {k})")
        if self.energy is not None and len(self.energy) != self.n_pds:
            raise ValueError(f"energy model has {len(self.energy)} tables for {self.n_pds} performance domains")

    @property
    def n_cpus(self) -> int:
        return len(self.core)

    @property
    def n_nodes(self) -> int:
        return int(self.node.max()) + 1 if self.n_cpus else 0

    @property
    def n_llcs(self) -> int:
        return int(self.llc.max()) + 1 if self.n_cpus else 0

    @property
    def n_cores(self) -> int:
        return int(self.core.max()) + 1 if self.n_cpus else 0

    @property
    def n_pds(self) -> int:
        return int(self.pd.max()) + 1 if self.n_cpus else 0

    def __eq__(self, other) -> bool:
        return isinstance(other, Topology) and self.energy == other.energy and all(
            np.array_equal(a, b) for a, b in ((self.core, other.core), (self.llc, other.llc),
                                              (self.node, other.node), (self.capacity, other.capacity),
                                              (self.distance, other.distance), (self.pd, other.pd)))

    def describe(self) -> str:
        smt = self.n_cpus // max(self.n_cores, 1)
        energy = f", energy model ({self.n_pds} performance domains)" if self.energy is not None else ""
        return (f"{self.n_cpus} CPUs, {self.n_cores} cores (SMT {smt}), {self.n_llcs} LLCs, "
                f"{self.n_nodes} nodes{energy}")

    def subset(self, cpus) -> "Topology":
        """The machine made of ``cpus`` only (renumbered 0.. in that order; groups and
        node distances kept), e.g. without CPUs that were offline."""
        idx = np.asarray(cpus, np.int64)
        nodes = np.unique(self.node[idx])
        pd = self.pd[idx]
        # the kept domains' tables, in the new canonical order (each one's first kept CPU)
        energy = None if self.energy is None else tuple(self.energy[p] for p in dict.fromkeys(pd.tolist()))
        return replace(make(self.core[idx], self.llc[idx], self.node[idx], self.capacity[idx],
                            self.distance[np.ix_(nodes, nodes)], self.name, pd, energy), kernel=self.kernel)

    def to_dict(self) -> dict:
        """Plain data, the ``cpus`` rows of a topology file; ``pd`` in each row and
        ``energy`` only when the machine has an energy model or domains other than its
        LLCs (``from_file`` reads the dict back, as JSON, to an equal topology)."""
        with_pd = self.energy is not None or not np.array_equal(self.pd, self.llc)
        cpus = []
        for i, (c, l, n, cap) in enumerate(zip(self.core, self.llc, self.node, self.capacity)):
            cpus.append({"cpu": i, "core": int(c), "llc": int(l), "node": int(n), "capacity": int(cap)})
            if with_pd:
                cpus[-1]["pd"] = int(self.pd[i])
        out = {"name": self.name, "cpus": cpus, "distance": self.distance.tolist()}
        if self.energy is not None:
            out["energy"] = [[[f, p] for f, p in table] for table in self.energy]
        return out


def _canonical(ids) -> np.ndarray:
    """Renumber group ids 0.. in order of each group's lowest CPU."""
    ids = np.asarray(ids)
    first = {}
    out = np.empty(len(ids), np.int32)
    for i, g in enumerate(ids.tolist()):
        if g not in first:
            first[g] = len(first)
        out[i] = first[g]
    return out


def make(core, llc, node, capacity=None, distance=None, name="", pd=None, energy=None) -> Topology:
    """A topology from per-CPU group ids (any labels; renumbered canonically). ``pd``:
    per-CPU performance domains (default: the LLCs); ``energy``: the energy model, one
    table of [frequency_khz, power_mw] pairs per performance domain in canonical order
    (:func:`energy_model`)."""
    node_ids = np.asarray(node)
    core_c, llc_c, node_c = _canonical(core), _canonical(llc), _canonical(node)
    k = int(node_c.max()) + 1 if len(node_c) else 0
    if distance is None:
        dist = np.full((k, k), REMOTE_DISTANCE, np.int32)
        np.fill_diagonal(dist, LOCAL_DISTANCE)
    else:
        dist = np.asarray(distance, np.int32)
        if dist.shape != (k, k):
            raise ValueError(f"distance matrix is {dist.shape} but there are {k} nodes")
        # reorder rows/columns to the canonical node numbering when the labels were node ids
        labels = [int(node_ids[np.flatnonzero(node_c == i)[0]]) for i in range(k)]
        if sorted(labels) == list(range(k)):
            dist = dist[np.ix_(labels, labels)]
    cap = np.full(len(core_c), 1024, np.int32) if capacity is None else _capacities(capacity)
    pd_c = llc_c.copy() if pd is None else _canonical(pd)
    if len(pd_c) != len(core_c):
        raise TraceError(f"pd gives {len(pd_c)} performance domains for {len(core_c)} CPUs: give one per CPU")
    n_pds = int(pd_c.max()) + 1 if len(pd_c) else 0
    em = None if energy is None else energy_model(energy, n_pds)
    return Topology(core_c, llc_c, node_c, cap, dist, name, pd=pd_c, energy=em)


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def energy_model(tables, n_pds: int, path=None) -> tuple:
    """The energy model as :attr:`Topology.energy` holds it: ``tables`` = one table per
    performance domain (canonical order), each a list of [frequency_khz, power_mw] pairs,
    frequencies whole, > 0, distinct and ascending, powers >= 0. Anything else is a
    TraceError naming ``path`` when given."""
    where = str(path) if path is not None else None
    if not isinstance(tables, (list, tuple)) or len(tables) != n_pds:
        got = (f"{len(tables)} table{'s' if len(tables) != 1 else ''}" if isinstance(tables, (list, tuple))
               else _short(tables))
        raise TraceError(f"energy model: {got} for {n_pds} performance domains; give one table of "
                         "[frequency_khz, power_mw] pairs per performance domain", where)
    out = []
    for d, table in enumerate(tables):
        if not isinstance(table, (list, tuple)) or not table or not all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_number(x) for x in p) for p in table):
            raise TraceError(f"energy model: the table of performance domain {d} is {_short(table)}, not a "
                             "non-empty list of [frequency_khz, power_mw] pairs", where)
        pairs = []
        for f, p in table:
            if not (f > 0 and (isinstance(f, int) or f.is_integer())):
                raise TraceError(f"energy model: performance domain {d} has frequency {f!r}: a frequency is a "
                                 "whole number of kHz > 0", where)
            if not (p >= 0 and (p < 1e300 if isinstance(p, int) else math.isfinite(p))):
                raise TraceError(f"energy model: performance domain {d} has power {p!r} at {int(f)} kHz: a power "
                                 "is a number of mW >= 0", where)
            if pairs and int(f) <= pairs[-1][0]:
                raise TraceError(f"energy model: performance domain {d} has frequency {int(f)} after "
                                 f"{pairs[-1][0]}: the frequencies must be distinct and ascending", where)
            pairs.append((int(f), float(p)))
        out.append(tuple(pairs))
    return tuple(out)


#: A CPU's capacity is in 1/1024 of the biggest CPU's (the kernel's SCHED_CAPACITY_SCALE).
MAX_CAPACITY = 1024


def _capacities(capacity) -> np.ndarray:
    """Capacities as int32, each a whole number 1..1024: 0 would divide by zero in the
    engine's load balancing, and the biggest CPU is 1024 (the kernel's scale)."""
    values = []
    for i, c in enumerate(np.asarray(capacity, dtype=object).tolist()):
        ok = isinstance(c, int) and not isinstance(c, bool) or isinstance(c, float) and c.is_integer()
        if not ok or not 1 <= int(c) <= MAX_CAPACITY:
            raise TraceError(f"CPU {i} has capacity {c!r}: a capacity is a whole number 1..{MAX_CAPACITY} "
                             "(1024 = the biggest CPU)")
        values.append(int(c))
    return np.asarray(values, np.int32)


def from_spec(spec: str) -> Topology:
    """``SxCxT``: sockets x cores per socket x threads per core."""
    m = _SPEC_RE.match(spec)
    if not m:
        raise TraceError(f"topology spec {spec!r} is not SOCKETSxCORESxTHREADS (e.g. 2x16x2)")
    s, c, t = (int(x) for x in m.groups())
    if s < 1 or c < 1 or t < 1 or s * c * t > 65536:
        raise TraceError(f"topology spec {spec!r}: each count must be >= 1 and the machine at most 65536 CPUs")
    cpu = np.arange(s * c * t)
    core = cpu % (s * c)   # threads of one core are s*c CPUs apart
    socket = core // c
    return make(core, socket, socket, name=f"{s}x{c}x{t}")


def _cpulist(text: str) -> list[int]:
    out = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def from_host(root: str | Path = "/sys/devices/system") -> Topology:
    """This machine's topology from sysfs (``root`` is for tests)."""
    root = Path(root)
    cpu_dir = root / "cpu"
    try:
        online = _cpulist((cpu_dir / "online").read_text())
    except OSError as e:
        raise TraceError(f"cannot read the host topology: {e}") from None
    core, llc, node, cap = [], [], [], []
    node_of = {}
    for nd in sorted(root.glob("node/node[0-9]*")):
        try:
            for c in _cpulist((nd / "cpulist").read_text()):
                node_of[c] = int(nd.name[4:])
        except OSError:
            pass
    for c in online:
        d = cpu_dir / f"cpu{c}"
        try:
            sib = (d / "topology" / "thread_siblings_list")
            core.append(min(_cpulist(sib.read_text())) if sib.exists() else c)
        except OSError:
            core.append(c)
        shared = None
        caches = sorted((d / "cache").glob("index[0-9]*"), key=lambda p: int(p.name[5:]))
        best = -1
        for idx in caches:
            try:
                level = int((idx / "level").read_text())
                if level >= best:
                    best = level
                    shared = min(_cpulist((idx / "shared_cpu_list").read_text()))
            except (OSError, ValueError):
                continue
        llc.append(shared if shared is not None else 0)
        node.append(node_of.get(c, 0))
        try:
            cap.append(int((d / "cpu_capacity").read_text()))
        except (OSError, ValueError):
            cap.append(1024)
    dist = None
    nodes = sorted(set(node))
    if len(nodes) > 1:
        try:
            dist = [[int(x) for x in (root / "node" / f"node{n}" / "distance").read_text().split()]
                    for n in nodes]
            dist = [[row[m] for m in nodes] for row in dist]
        except (OSError, ValueError, IndexError):
            dist = None
    if len(online) != max(online) + 1:
        raise TraceError(f"the host has offline CPUs (online: {(cpu_dir / 'online').read_text().strip()}); "
                         "give a topology file instead")
    return make(core, llc, node, cap, dist, name="host")


def from_file(path: str | Path) -> Topology:
    """A topology from a JSON, TOML or YAML file, or a LISA platform description (see the
    module docstring)."""
    path = Path(path)
    try:
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yml", ".yaml"):
            data = _load_yaml(text)
        else:
            data = json.loads(text)
    except (OSError, ValueError) as e:
        raise TraceError(f"cannot read topology file: {e}", str(path)) from None
    except Exception as e:  # yaml.YAMLError: its own hierarchy, with the line in its text
        raise TraceError(f"cannot read topology file: {' '.join(str(e).split())}", str(path)) from None
    if isinstance(data, dict) and isinstance(data.get("platform-info"), dict):
        return _from_plat_info(data["platform-info"], path)
    if isinstance(data, dict) and "clusters" in data and "cpus" not in data:
        return _from_clusters(data, path)
    cpus = data.get("cpus") if isinstance(data, dict) else None
    if not isinstance(cpus, list) or not cpus:
        raise TraceError("topology file needs a non-empty 'cpus' list of {cpu, core, llc, node}, or 'clusters' "
                         "and 'capacity'", str(path))
    try:
        rows = sorted(cpus, key=lambda r: int(r["cpu"]))
        ids = [int(r["cpu"]) for r in rows]
        if ids != list(range(len(ids))):
            raise TraceError(f"topology file: cpus must be numbered 0..{len(ids) - 1} without gaps", str(path))
        with_pd = sum("pd" in r for r in rows)
        if with_pd not in (0, len(rows)):
            raise TraceError(f"topology file: {with_pd} of {len(rows)} cpus give a pd: give it for every CPU or "
                             "none (then each LLC is a performance domain)", str(path))
        topo = make([r["core"] for r in rows], [r["llc"] for r in rows], [r["node"] for r in rows],
                    [r.get("capacity", 1024) for r in rows], data.get("distance"), name=path.name,
                    pd=[r["pd"] for r in rows] if with_pd else None, energy=data.get("energy"))
    except TraceError as e:
        raise TraceError(f"topology file: {e.detail}", str(path)) from None
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise TraceError(f"topology file: bad cpu entry ({e}); each needs cpu, core, llc, node", str(path)) from None
    return _with_kernel(topo, data.get("kernel"), path)


def _with_kernel(topo: Topology, kernel, path: Path) -> Topology:
    if kernel is None:
        return topo
    if not isinstance(kernel, (str, int, float)) or isinstance(kernel, bool):
        raise TraceError(f"topology file: kernel is {kernel!r}; give the version as text, e.g. \"4.19.0\"",
                         str(path))
    return replace(topo, kernel=str(kernel).strip())


def _load_yaml(text: str):
    """YAML as plain data. LISA writes its platform descriptions with Python tags
    (``!!python/object:lisa.energy_model.EnergyModel``, ``!!python/tuple``): they are read
    as the mappings and lists they hold, never as Python objects (nothing is imported or
    called, as with yaml.safe_load)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def plain(loader, suffix, node):
        # built the way SafeLoader builds its own mappings and lists (made first, filled
        # after), so that the energy model's nodes may refer to their parents
        if isinstance(node, yaml.MappingNode):
            data = {}
            yield data
            data.update(loader.construct_mapping(node))
        elif isinstance(node, yaml.SequenceNode):
            data = []
            yield data
            data.extend(loader.construct_sequence(node))
        else:
            yield loader.construct_scalar(node)

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", plain)
    return yaml.load(text, Loader=Loader)


def _cpu_groups(groups, what: str, path: Path) -> list[list[int]]:
    """A list of CPU lists covering CPUs 0..n-1 exactly once each."""
    try:
        out = [[int(c) for c in g] for g in groups]
    except (TypeError, ValueError):
        raise TraceError(f"topology file: {what} must be lists of CPU numbers, e.g. [[0, 1, 2, 3], [4, 5]]",
                         str(path)) from None
    cpus = sorted(c for g in out for c in g)
    if not out or any(not g for g in out) or cpus != list(range(len(cpus))):
        raise TraceError(f"topology file: {what} must name each of CPUs 0..N-1 exactly once "
                         f"(got {sorted(cpus)})", str(path))
    return out


def _from_groups(groups: list[list[int]], capacity, name: str, path: Path, energy=None) -> Topology:
    """Clusters (each one LLC and one performance domain, no SMT, one node); ``energy``:
    None or one table per cluster, in the order of ``groups``."""
    n = sum(len(g) for g in groups)
    llc = np.zeros(n, np.int64)
    for i, g in enumerate(groups):
        llc[g] = i
    if isinstance(capacity, list) and len(capacity) == len(groups) and len(groups) != n:
        capacity = [capacity[i] for i in llc.tolist()]  # one per cluster
    if capacity is not None and (not isinstance(capacity, list) or len(capacity) != n):
        raise TraceError(f"topology file: capacity must list one value per CPU ({n}) or per cluster "
                         f"({len(groups)})", str(path))
    if isinstance(energy, list) and len(energy) == len(groups):
        energy = [energy[i] for i in sorted(range(len(groups)), key=lambda i: min(groups[i]))]  # canonical order
    try:
        return make(np.arange(n), llc, np.zeros(n, np.int64), capacity, name=name, energy=energy)
    except TraceError as e:
        raise TraceError(f"topology file: {e.detail}", str(path)) from None


def _from_clusters(data: dict, path: Path) -> Topology:
    """``clusters`` (CPU lists, one LLC and performance domain each, no SMT, one node),
    ``capacity`` and optionally ``energy`` (one table per cluster)."""
    topo = _from_groups(_cpu_groups(data["clusters"], "clusters", path), data.get("capacity"), path.name, path,
                        data.get("energy"))
    return _with_kernel(topo, data.get("kernel"), path)


def _from_plat_info(info: dict, path: Path) -> Topology:
    """A LISA platform description (``platform-info: conf: ...``): CPU capacities
    (``cpu-capacities: orig``, the kernel's cpu_capacity; older files give the mapping
    directly), the frequency domains as clusters and performance domains (a big.LITTLE
    cluster shares its clock and its L2 cache), the kernel release, the energy model
    (``nrg-model``, :func:`_plat_energy`)."""
    conf = info.get("conf") if isinstance(info.get("conf"), dict) else {}
    n = conf.get("cpus-count")
    caps = conf.get("cpu-capacities")
    if isinstance(caps, dict) and isinstance(caps.get("orig"), dict):
        caps = caps["orig"]
    domains = conf.get("freq-domains")
    if domains is None and isinstance(n, int):
        domains = [[c] for c in range(n)]
    if domains is None:
        raise TraceError("LISA platform description without freq-domains or cpus-count: cannot tell its CPUs",
                         str(path))
    groups = _cpu_groups(domains, "freq-domains", path)
    n_cpus = sum(len(g) for g in groups)
    if isinstance(n, int) and n != n_cpus:
        raise TraceError(f"LISA platform description: cpus-count is {n} but freq-domains name {n_cpus} CPUs",
                         str(path))
    capacity = None
    if caps is not None:
        if not isinstance(caps, dict) or sorted(int(k) for k in caps) != list(range(n_cpus)):
            raise TraceError("LISA platform description: cpu-capacities must give every CPU's capacity",
                             str(path))
        capacity = [caps[k] for k in sorted(caps, key=int)]
    energy = _plat_energy(conf.get("nrg-model"), groups, path)
    topo = _from_groups(groups, capacity, str(conf.get("name") or path.name), path, energy)
    kernel = conf.get("kernel") if isinstance(conf.get("kernel"), dict) else {}
    version = kernel.get("version") if isinstance(kernel.get("version"), dict) else {}
    release = version.get("release") or kernel.get("release")
    return replace(topo, kernel=str(release)) if release else topo


def _plat_energy(em, groups: list[list[int]], path: Path) -> list | None:
    """The energy model of a LISA platform description: ``nrg-model``, LISA's
    lisa.energy_model.EnergyModel read as plain data. Each of its ``cpu_nodes`` (``cpu``,
    ``cpus``) has ``active_states``, an ordered map frequency -> ActiveState(capacity,
    power) (read as a list of (frequency, [capacity, power]) pairs). One table per
    frequency domain, in the order of ``groups``: its first CPU's (frequency, power)
    pairs, every CPU of the domain having the same frequencies. None without one."""
    # The cluster and root nodes' power (LISA's cluster-level active and idle states) is
    # left out: the mainline kernel's energy model (find_energy_efficient_cpu) has the
    # per-CPU power of each performance state of a performance domain, nothing above it.
    if em is None:
        return None
    nodes = em.get("cpu_nodes") if isinstance(em, dict) else None
    if not isinstance(nodes, list):
        raise TraceError("LISA platform description: nrg-model has no cpu_nodes list", str(path))
    states = {}
    for node in nodes:
        if not isinstance(node, dict):
            continue
        cpus = [node["cpu"]] if isinstance(node.get("cpu"), int) else node.get("cpus")
        for c in cpus if isinstance(cpus, list) else []:
            if isinstance(c, int):
                states[c] = _active_states(node.get("active_states"), c, path)
    tables = []
    for g in groups:
        missing = [c for c in g if c not in states]
        if missing:
            raise TraceError(f"LISA platform description: nrg-model has no cpu node for CPU {missing[0]}", str(path))
        freqs = [f for f, _ in states[g[0]]]
        for c in g[1:]:
            if [f for f, _ in states[c]] != freqs:
                raise TraceError(f"LISA platform description: nrg-model gives CPU {c} the frequencies "
                                 f"{[f for f, _ in states[c]]} but CPU {g[0]} of its frequency domain {freqs}",
                                 str(path))
        tables.append(states[g[0]])
    return tables


def _active_states(states, cpu, path: Path) -> list:
    """A LISA cpu node's active states as [frequency, power] pairs: an omap (a list of
    (frequency, ActiveState) pairs), a list of one-entry mappings or a mapping; an
    ActiveState is [capacity, power] or {capacity, power}."""
    if isinstance(states, dict):
        states = list(states.items())
    out = []
    for item in states if isinstance(states, list) else [None]:
        if isinstance(item, dict) and len(item) == 1:
            item = next(iter(item.items()))
        state = item[1] if isinstance(item, (list, tuple)) and len(item) == 2 else None
        if isinstance(state, dict):
            state = [state.get("capacity"), state.get("power")]
        if not isinstance(state, (list, tuple)) or len(state) != 2:
            raise TraceError(f"LISA platform description: nrg-model: CPU {cpu}'s active_states are not "
                             "frequency -> (capacity, power)", str(path))
        out.append([item[0], state[1]])
    return out


def from_trace(trace) -> Topology:
    """What the trace records (its cpus table)."""
    c = trace.cpus
    try:
        return make(c["core"].to_numpy(), c["llc"].to_numpy(), c["node"].to_numpy(), c["capacity"].to_numpy(),
                    name="recorded")
    except TraceError as e:
        raise TraceError(f"the trace's cpus table: {e.detail}", trace.path) from None


def resolve(arg: str | None, trace=None) -> Topology:
    """Turn a ``--topology`` argument into a Topology (None: the trace's own)."""
    if arg is None or arg == "" or arg == "recorded":
        if trace is None:
            raise TraceError("no topology given and no trace to take it from")
        return from_trace(trace)
    if arg == "host":
        return from_host()
    if _SPEC_RE.match(arg):
        return from_spec(arg)
    if os.path.exists(arg):
        return from_file(arg)
    raise TraceError(f"--topology {arg!r}: expected 'host', a spec such as 2x16x2, or a JSON/TOML/YAML file "
                     "(or a LISA plat_info.yml)")
