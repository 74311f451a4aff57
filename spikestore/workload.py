"""A seeded, realistic multi-electrode analysis workspace for tests and benchmarks.

:func:`make_workspace` builds what a lab's analysis of three recordings of a
cultured network looks like: per recording a sorted ``SpikeData`` (lognormal
firing rates, refractory periods, network bursts, spike times on a 20 kHz
sample grid kept as float64 ms), its ISI-rate ``RateData`` at 10 ms bins,
burst-aligned ``RateSliceStack`` and ``SpikeSliceStack``, a correlation
``PairwiseCompMatrix`` and a dict of results, plus one comparison namespace
with a ``PairwiseCompMatrixStack``.  Everything is vectorised numpy, so even
the ``"medium"`` scale (3 x 1,000 units x 10 min, about 1.6 GB) builds in
tens of seconds.

The knobs a lab turns are parameters of :func:`make_workspace` (an
:class:`Analysis`): the rate smoothing ``sigma_ms``, the rate bin width
``bin_ms``, the mean firing rate and the spread of firing rates across units.
How compressible the rate matrix is depends on them (sigma 50 ms rates
compress less than half as well as sigma 10 ms ones), so the benchmarks run
more than one.  The defaults are the workload every figure before them was
measured on: with them the generated data are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from spikelab.spikedata.pairwise import PairwiseCompMatrix, PairwiseCompMatrixStack
from spikelab.spikedata.ratedata import RateData
from spikelab.spikedata.rateslicestack import RateSliceStack
from spikelab.spikedata.spikedata import SpikeData
from spikelab.spikedata.spikeslicestack import SpikeSliceStack

from .workspace import AnalysisWorkspace

FS_HZ = 20_000.0
RATE_BIN_MS = 10.0
RATE_SIGMA_MS = 10.0
REFRACTORY_MS = 1.5
TEMPLATE_SAMPLES = 40
SLICE_BOUNDS_MS = (250.0, 500.0)
RECORDINGS = ("rec1", "rec2", "rec3")


@dataclass(frozen=True)
class Analysis:
    """How a lab analyses its recordings: the knobs of :func:`make_workspace`.

    Attributes
    ----------
    sigma_ms : float
        Standard deviation of the Gaussian smoothing of the ISI rates
        (spikelab's ``resampled_isi`` default: 10 ms).
    bin_ms : float
        Width of a rate bin (``RateData`` time step and slice-stack step).
    mean_rate_hz : float
        Mean firing rate of the units (lognormal across units).
    rate_spread : float
        Standard deviation of the log firing rate across units: 0 gives every
        unit the same rate, 1.0 spans about two decades.
    """

    sigma_ms: float = RATE_SIGMA_MS
    bin_ms: float = RATE_BIN_MS
    mean_rate_hz: float = 3.0
    rate_spread: float = 1.0

    def __post_init__(self) -> None:
        if not (self.bin_ms > 0 and self.sigma_ms >= 0 and self.mean_rate_hz > 0 and self.rate_spread >= 0):
            raise ValueError(f"{self} needs bin_ms > 0, sigma_ms >= 0, mean_rate_hz > 0 and rate_spread >= 0")

    def label(self) -> str:
        """A short description, e.g. ``"sigma 50 ms, 10 ms bins, 3 Hz (spread 1)"``."""
        return f"sigma {self.sigma_ms:g} ms, {self.bin_ms:g} ms bins, {self.mean_rate_hz:g} Hz (spread {self.rate_spread:g})"


DEFAULT_ANALYSIS = Analysis()


@dataclass(frozen=True)
class Scale:
    """Size of a generated workspace.

    Attributes
    ----------
    units : int
        Units per recording.
    minutes : float
        Recording length.
    events : int
        Burst events per recording (slices of the slice stacks).
    """

    units: int
    minutes: float
    events: int


SCALES: dict[str, Scale] = {
    "tiny": Scale(units=12, minutes=0.25, events=6),
    "small": Scale(units=100, minutes=2.0, events=50),
    "medium": Scale(units=1000, minutes=10.0, events=80),
    "full": Scale(units=1000, minutes=30.0, events=100),
}


def _spike_trains(
    rng: np.random.Generator, n: int, length_ms: float, bursts: np.ndarray, analysis: Analysis = DEFAULT_ANALYSIS
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted spike times of ``n`` units as (flat float64 ms, cumulative ends).

    Background spikes are a refractory Poisson process at a lognormal rate
    (mean ``analysis.mean_rate_hz``, log standard deviation
    ``analysis.rate_spread``); on top, each unit joins each network burst
    with a unit-specific probability and fires a few jittered spikes.  Times
    are snapped to the ``FS_HZ`` sample grid.
    """
    sigma = analysis.rate_spread
    rates_hz = rng.lognormal(np.log(analysis.mean_rate_hz) - sigma**2 / 2, sigma, n).clip(0.02, 80.0)
    participation = rng.beta(2.0, 3.0, n)
    burst_spikes = rng.gamma(2.0, 1.5, n)  # mean spikes per joined burst
    burst_rate = participation * burst_spikes * len(bursts) / (length_ms / 1e3)
    background_hz = np.maximum(rates_hz - burst_rate, 0.05)

    # background: cumulative sums of refractory exponential ISIs, per unit
    counts = rng.poisson(background_hz * length_ms / 1e3 * 1.05) + 1
    unit_bg = np.repeat(np.arange(n), counts)
    mean_isi = 1e3 / background_hz
    isi = REFRACTORY_MS + rng.exponential(1.0, counts.sum()) * np.maximum(mean_isi - REFRACTORY_MS, 1.0)[unit_bg]
    csum = np.cumsum(isi)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    before = np.concatenate(([0.0], csum))[starts]
    offset = rng.uniform(0, 1, n) * mean_isi
    t_bg = csum - np.repeat(before, counts) + np.repeat(offset, counts)

    # bursts: joined (unit, burst) pairs each emit a few spikes after a unit latency
    joined = rng.random((n, len(bursts))) < participation[:, None]
    ju, jb = np.nonzero(joined)
    k = rng.poisson(burst_spikes[ju]) + 1
    unit_b = np.repeat(ju, k)
    latency = rng.normal(20.0, 15.0, n)
    t_b = np.repeat(bursts[jb], k) + latency[unit_b] + rng.gamma(1.5, 25.0, k.sum())

    unit = np.concatenate((unit_bg, unit_b))
    t = np.concatenate((t_bg, t_b))
    keep = (t >= 0) & (t < length_ms - 1.0)
    unit, t = unit[keep], t[keep]
    samples = np.round(t * (FS_HZ / 1e3)).astype(np.int64)
    order = np.lexsort((samples, unit))
    unit, samples = unit[order], samples[order]
    # refractory: drop a spike too close to the previous kept one of its unit
    gap = np.diff(samples, prepend=-(10**9))
    same = np.diff(unit, prepend=-1) == 0
    ok = ~same | (gap >= REFRACTORY_MS * FS_HZ / 1e3)
    unit, samples = unit[ok], samples[ok]
    flat = samples / (FS_HZ / 1e3)
    ends = np.cumsum(np.bincount(unit, minlength=n)).astype(np.int64)
    return flat, ends


def isi_rates(flat: np.ndarray, ends: np.ndarray, times: np.ndarray, sigma_ms: float = RATE_SIGMA_MS) -> np.ndarray:
    """Vectorised ``SpikeData.resampled_isi``: ISI rate (Hz) at ``times``, Gaussian-smoothed.

    Between two consecutive spikes a unit's rate is ``1000 / ISI``; before
    its first and after its last spike it is 0.  Bin assignment follows
    spikelab's ``_resampled_isi`` (rounded bins, a later ISI wins a bin).

    Parameters
    ----------
    flat, ends : numpy.ndarray
        Concatenated sorted spike times (ms) and each unit's cumulative end.
    times : numpy.ndarray
        A uniform time grid (ms).
    sigma_ms : float
        Standard deviation of the Gaussian smoothing kernel.

    Returns
    -------
    numpy.ndarray
        Rates of shape ``(units, len(times))``, float64.
    """
    dt = float(times[1] - times[0])
    n_bins = len(times)
    out = np.zeros((len(ends), n_bins))
    start = 0
    for u, end in enumerate(ends):
        spikes = flat[start:end]
        start = int(end)
        if len(spikes) < 2:
            continue
        bins = np.round((spikes - times[0]) / dt).astype(np.int64)
        rate = 1e3 / np.diff(spikes)
        # the ISI (i-1, i) covers [bins[i-1], bins[i]); later ISIs overwrite earlier ones
        last = np.searchsorted(bins[:-1], np.arange(n_bins), side="right") - 1
        inside = (last >= 0) & (np.arange(n_bins) < bins[-1])
        out[u, inside] = rate[last[inside]]
    if sigma_ms > 0:
        ndimage.gaussian_filter1d(out, sigma_ms / dt, axis=1, output=out)
    return out


def _neuron_attributes(rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
    channels = rng.choice(1024, size=n, replace=n > 1024)
    x = (channels % 32) * 17.5 + rng.normal(0, 4.0, n)
    y = (channels // 32) * 17.5 + rng.normal(0, 4.0, n)
    snr = rng.gamma(4.0, 2.0, n)
    t = np.arange(TEMPLATE_SAMPLES, dtype=np.float64)
    amp = -rng.gamma(3.0, 25.0, n)
    width = rng.uniform(1.5, 4.0, n)
    templates = amp[:, None] * np.exp(-0.5 * ((t - 13.0) / width[:, None]) ** 2)
    templates += 0.3 * -amp[:, None] * np.exp(-0.5 * ((t - 22.0) / (2 * width[:, None])) ** 2)
    templates = (templates + rng.normal(0, 1.5, templates.shape)).astype(np.float32)
    labels = rng.choice(np.array(["good", "mua", "noise"]), size=n, p=[0.7, 0.25, 0.05])
    return [
        {
            "unit_id": int(i),
            "channel": int(channels[i]),
            "x": float(x[i]),
            "y": float(y[i]),
            "snr": float(snr[i]),
            "template": templates[i],
            "cluster_label": str(labels[i]),
        }
        for i in range(n)
    ]


def _correlations(rates: np.ndarray, rng: np.random.Generator, bin_ms: float = RATE_BIN_MS) -> np.ndarray:
    """A symmetric unit-by-unit correlation matrix of 1 s-binned rates."""
    n, t = rates.shape
    per_s = max(1, int(round(1000.0 / bin_ms)))
    usable = (t // per_s) * per_s
    coarse = rates[:, :usable].reshape(n, -1, per_s).mean(axis=2) if usable else rates
    coarse = coarse + rng.normal(0, 1e-6, coarse.shape)  # silent units: no NaN
    corr = np.corrcoef(coarse)
    np.fill_diagonal(corr, 1.0)
    return corr


def _recording(
    ws: AnalysisWorkspace, namespace: str, scale: Scale, rng: np.random.Generator, analysis: Analysis = DEFAULT_ANALYSIS
) -> np.ndarray:
    n = scale.units
    bin_ms, sigma_ms = analysis.bin_ms, analysis.sigma_ms
    length_ms = scale.minutes * 60_000.0
    lo, hi = SLICE_BOUNDS_MS
    span = length_ms - lo - hi - 2 * bin_ms
    bursts = np.sort(lo + bin_ms + rng.uniform(0, span, scale.events))
    bursts = np.round(bursts / bin_ms) * bin_ms
    flat, ends = _spike_trains(rng, n, length_ms, bursts, analysis)
    attrs = _neuron_attributes(rng, n)
    sd = SpikeData(
        np.split(flat, ends[:-1]),
        N=n,
        length=length_ms,
        neuron_attributes=attrs,
        metadata={"fs_Hz": FS_HZ, "probe": "maxwell-mea", "recording": namespace, "sorter": "kilosort2"},
    )
    times = np.arange(0.0, length_ms, bin_ms)
    rates = isi_rates(flat, ends, times, sigma_ms)
    rd = RateData(rates, times, neuron_attributes=attrs, rate_unit="Hz")

    bins = np.round(bursts / bin_ms).astype(np.int64)
    offsets = np.arange(-int(lo / bin_ms), int(hi / bin_ms))
    event_stack = np.ascontiguousarray(rates[:, bins[:, None] + offsets[None, :]].transpose(0, 2, 1))
    windows = [(float(b - lo), float(b + hi)) for b in bursts]
    rss = RateSliceStack(event_matrix=event_stack, times_start_to_end=windows, step_size=bin_ms, neuron_attributes=attrs)
    sss = SpikeSliceStack(data_obj=sd, time_peaks=list(bursts), time_bounds=(lo, hi))

    corr = _correlations(rates, rng, bin_ms)
    pcm = PairwiseCompMatrix(matrix=corr, labels=[f"unit_{i}" for i in range(n)], metadata={"method": "pearson", "bin_ms": 1000.0})
    mean_rates = np.diff(ends, prepend=0) / (length_ms / 1e3)
    results = {
        "burst_times_ms": bursts,
        "mean_rate_hz": mean_rates,
        "n_bursts": int(len(bursts)),
        "mean_ibi_ms": float(np.mean(np.diff(bursts))) if len(bursts) > 1 else 0.0,
        "params": {"rate_bin_ms": bin_ms, "sigma_ms": sigma_ms, "pre_ms": lo, "post_ms": hi},
        "quality": {"n_good": sum(a["cluster_label"] == "good" for a in attrs), "median_snr": float(np.median([a["snr"] for a in attrs]))},
    }
    ws.store(namespace, "spikes", sd, note="sorted units")
    ws.store(namespace, "rates", rd, note=f"ISI rate, {bin_ms:g} ms bins, sigma {sigma_ms:g} ms")
    ws.store(namespace, "burst_rates", rss)
    ws.store(namespace, "burst_spikes", sss)
    ws.store(namespace, "correlation", pcm)
    ws.store(namespace, "results", results)
    return corr


def make_workspace(
    scale: str = "small",
    seed: int = 0,
    *,
    sigma_ms: float = RATE_SIGMA_MS,
    bin_ms: float = RATE_BIN_MS,
    mean_rate_hz: float = 3.0,
    rate_spread: float = 1.0,
) -> AnalysisWorkspace:
    """A realistic three-recording workspace, identical for identical arguments.

    Parameters
    ----------
    scale : {"tiny", "small", "medium", "full"}
        ``"small"``: 100 units x 2 min per recording (seconds to build);
        ``"medium"``: 1,000 units x 10 min; ``"full"``: 1,000 units x 30 min.
        ``"tiny"`` is for unit tests.
    seed : int
        Seed of the random generator.
    sigma_ms, bin_ms, mean_rate_hz, rate_spread : float
        The lab's analysis choices (see :class:`Analysis`): rate smoothing,
        rate bin width, mean firing rate and the log-rate spread across
        units.  The defaults reproduce the workload of every earlier figure.

    Returns
    -------
    spikestore.AnalysisWorkspace
        Namespaces ``rec1``..``rec3`` (``spikes``, ``rates``, ``burst_rates``,
        ``burst_spikes``, ``correlation``, ``results``) and
        ``C_rec1_rec2_rec3`` (``correlation_stack``).
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}")
    sc = SCALES[scale]
    analysis = Analysis(sigma_ms=sigma_ms, bin_ms=bin_ms, mean_rate_hz=mean_rate_hz, rate_spread=rate_spread)
    rng = np.random.default_rng(seed)
    ws = AnalysisWorkspace(name=f"workload-{scale}-{seed}")
    ws.workspace_id = f"00000000-0000-4000-8000-{seed:012d}"
    ws.created_at = 1_700_000_000.0
    corrs = [_recording(ws, ns, sc, rng, analysis) for ns in RECORDINGS]
    length_ms = sc.minutes * 60_000.0
    stack = PairwiseCompMatrixStack(
        stack=np.stack(corrs, axis=2),
        labels=[f"unit_{i}" for i in range(sc.units)],
        times=[(0.0, length_ms)] * len(RECORDINGS),
        metadata={"method": "pearson", "recordings": list(RECORDINGS)},
    )
    ws.store(AnalysisWorkspace.comparison_namespace(*RECORDINGS), "correlation_stack", stack)
    for namespace, keys in ws.describe().items():  # deterministic index timestamps
        for key in keys:
            entry = ws.get_info(namespace, key)  # the entry itself
            assert entry is not None
            entry["created_at"] = ws.created_at
    return ws


def _nbytes(obj: Any, seen: set[int]) -> int:
    if id(obj) in seen:
        return 0
    if isinstance(obj, np.ndarray):
        seen.add(id(obj))
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(_nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__"):
        seen.add(id(obj))
        return sum(_nbytes(v, seen) for v in vars(obj).values())
    return 0


def workspace_nbytes(ws: AnalysisWorkspace) -> int:
    """Raw bytes of every numpy array held by the workspace's items (each array once)."""
    seen: set[int] = set()
    return sum(_nbytes(ws.get(ns, key), seen) for ns in ws.list_namespaces() for key in ws.list_keys(ns))


def to_spikelab(ws: Any) -> Any:
    """The same workspace as a ``spikelab`` ``AnalysisWorkspace``: same id, name,
    notes and per-item ``created_at`` (what spikelab's own save is compared on)."""
    from spikelab.workspace import AnalysisWorkspace as SpikelabWorkspace

    copy = SpikelabWorkspace(name=ws.name)
    copy.workspace_id, copy.created_at = ws.workspace_id, ws.created_at
    for namespace in ws.list_namespaces():
        for key in ws.list_keys(namespace):
            info = ws.get_info(namespace, key) or {}
            copy.store(namespace, key, ws.get(namespace, key), note=info.get("note"))
            if "created_at" in info:  # keep the original time stamps, as an export does
                copy.get_info(namespace, key)["created_at"] = info["created_at"]
    return copy
