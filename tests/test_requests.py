"""Request budgets of lazy reads on S3, counted by the moto server (deterministic).

Sizes follow the targets: a 1,000-unit, 30-minute SpikeData (lognormal rates,
mean about 3 Hz), a 1000 x 1000 pairwise matrix, a RateSliceStack of 1,000
units x 75 bins x 40 events, and 200 small results.
"""

from __future__ import annotations

import uuid

import fsspec
import numpy as np
import pytest
from spikelab.spikedata.pairwise import PairwiseCompMatrix
from spikelab.spikedata.rateslicestack import RateSliceStack
from spikelab.spikedata.spikedata import SpikeData

from spikestore import AnalysisWorkspace, open_workspace

from .conftest import BUCKET
from .objects import assert_same

UNITS, MINUTES, EVENTS, SMALL = 1000, 30.0, 40, 197


def _spike_data(rng: np.random.Generator) -> SpikeData:
    length = MINUTES * 60_000.0
    rates = rng.lognormal(np.log(3.0) - 0.5, 1.0, UNITS)
    # on a 20 kHz sample grid, as sorted spikes are
    trains = [np.unique(np.round(rng.uniform(0, length - 1, rng.poisson(r * length / 1e3)) * 20) / 20) for r in rates]
    return SpikeData(trains, N=UNITS, length=length)


@pytest.fixture(scope="module")
def big(s3_server):
    """A saved workspace with the large items (written once for the module)."""
    rng = np.random.default_rng(11)
    items = {
        "spikes": _spike_data(rng),
        "correlation": PairwiseCompMatrix(matrix=rng.uniform(-1, 1, (UNITS, UNITS))),
        "burst_rates": RateSliceStack(
            event_matrix=rng.gamma(2.0, 2.0, (UNITS, 75, EVENTS)),
            times_start_to_end=[(1000.0 * i, 1000.0 * i + 750.0) for i in range(EVENTS)],
            step_size=10.0,
        ),
    }
    ws = AnalysisWorkspace()
    for key, obj in items.items():
        ws.store("rec", key, obj)
    for i in range(SMALL):  # small results: kept in the index, so saving them costs no object
        ws.store("small", f"item{i:03d}", {"values": np.arange(8.0) + i, "i": i})
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    ws.save(url, storage_options=s3_server.storage_options)
    fs, root = fsspec.core.url_to_fs(url, **s3_server.storage_options)
    lazy = open_workspace(url, storage_options=s3_server.storage_options)
    stored = {k: sum(fs.du(f"{root}/{lazy._require_open().index.entry('rec', k)['path']}", total=False).values()) for k in items}
    return url, items, stored


def _counted(server, fn):
    server.reset_counts()
    out = fn()
    return out, server.reset_counts()


def test_open_is_three_requests_and_the_index_answers_for_free(big, s3_server) -> None:
    url, items, _ = big
    lazy, counts = _counted(s3_server, lambda: open_workspace(url, storage_options=s3_server.storage_options))
    assert counts.total <= 3, counts
    assert sum(len(k) for k in lazy.list_keys().values()) == len(items) + SMALL
    _, counts = _counted(s3_server, lambda: (lazy.list_keys(), lazy.list_namespaces(), lazy.describe(), lazy.get_info("rec", "spikes")))
    assert counts.total == 0
    _, counts = _counted(s3_server, lambda: [lazy.get_lazy("rec", k) for k in items])
    assert counts.total == 0, "creating views reads nothing"


def test_one_unit_costs_few_small_requests(big, s3_server) -> None:
    url, items, stored = big
    sd = items["spikes"]
    lazy = open_workspace(url, storage_options=s3_server.storage_options)
    order = np.argsort([len(t) for t in sd.train])
    median = int(order[UNITS // 2])
    view = lazy.get_lazy("rec", "spikes")
    train, counts = _counted(s3_server, lambda: view.train(median))
    assert_same(sd.train[median], train)
    assert counts.total <= 4, counts
    assert counts.total_bytes_out <= 0.02 * stored["spikes"], (counts, stored["spikes"])
    # the train index and the shard index are kept by the view: the next unit is one
    # ranged read of its inner chunk(s) (neighbouring chunks of a shard are one range)
    _, counts = _counted(s3_server, lambda: view.train(int(order[UNITS // 2 + 1])))
    assert counts.total == 1, counts
    # any unit, fresh view: train index + shard index + one range (spike arrays up to
    # 64 MB are one shard, so no unit straddles a shard edge)
    for unit in order[:: UNITS // 10]:
        fresh = lazy.get_lazy("rec", "spikes")
        _, counts = _counted(s3_server, lambda: fresh.train(int(unit)))
        assert counts.total <= 3, (unit, counts)
    # the shard index comes with the train index (concurrently: two round trips in all, not three)
    fresh = lazy.get_lazy("rec", "spikes")
    _, counts = _counted(s3_server, fresh._ends)
    assert counts.total == 2, counts
    _, counts = _counted(s3_server, lambda: fresh.train(median))
    assert counts.total == 1, counts


def test_one_minute_window_reads_a_small_part(big, s3_server) -> None:
    url, items, stored = big
    sd = items["spikes"]
    view = open_workspace(url, storage_options=s3_server.storage_options).get_lazy("rec", "spikes")
    window, counts = _counted(s3_server, lambda: view.subtime(600_000.0, 660_000.0))
    assert_same(sd.subtime(600_000.0, 660_000.0), window)
    assert counts.total_bytes_out <= 0.15 * stored["spikes"], (counts, stored["spikes"])
    # the time-ordered copy's block offsets, then per array (times, units) its shard index and one range
    assert counts.total <= 5, counts


def test_one_matrix_row_and_one_event_are_at_most_three_requests(big, s3_server) -> None:
    url, items, stored = big
    lazy = open_workspace(url, storage_options=s3_server.storage_options)
    row, counts = _counted(s3_server, lambda: lazy.get_lazy("rec", "correlation").matrix[417])
    assert_same(items["correlation"].matrix[417], row)
    assert counts.total == 2, counts  # the shard index, the inner chunk
    event, counts = _counted(s3_server, lambda: lazy.get_lazy("rec", "burst_rates").event_stack[:, :, 17])
    assert_same(items["burst_rates"].event_stack[:, :, 17], event)
    assert counts.total == 2, counts
    assert counts.total_bytes_out <= 0.1 * stored["burst_rates"]


def test_one_units_rates_are_a_shard_index_and_one_range(s3_server) -> None:
    """A unit's row of a RateData crosses every inner tile of its band along time; the
    tiles are neighbours in the band's shard, so they are one ranged read."""
    from spikelab.spikedata.ratedata import RateData

    rng = np.random.default_rng(5)
    rates = RateData(rng.gamma(2.0, 2.0, (70, 20_000)), times=np.arange(20_000) * 10.0)
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    ws = AnalysisWorkspace()
    ws.store("rec", "rates", rates)
    ws.save(url, storage_options=s3_server.storage_options)
    view = open_workspace(url, storage_options=s3_server.storage_options).get_lazy("rec", "rates").inst_Frate_data
    assert view.shards[1] // view.chunks[1] > 1, (view.shards, view.chunks)
    row, counts = _counted(s3_server, lambda: view[40])
    assert_same(rates.inst_Frate_data[40], row)
    assert counts.total == 2, counts
    window, counts = _counted(s3_server, lambda: view[41, 5_000:5_100])
    assert_same(rates.inst_Frate_data[41, 5_000:5_100], window)
    assert counts.total == 1, counts  # the band's shard index is kept by the view's array


def test_open_sees_journal_records_and_close_compacts_them(s3_server) -> None:
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    so = s3_server.storage_options
    ws = AnalysisWorkspace()
    for i in range(200):  # small results: kept in the index, so saving them costs no object
        ws.store("ns", f"k{i:03d}", {"values": np.arange(3) + i})
    ws.save(url, storage_options=so)
    _, counts = _counted(s3_server, lambda: open_workspace(url, storage_options=so))
    assert counts.total == 3, counts

    writer = open_workspace(url, "r+", storage_options=so)
    other = open_workspace(url, "r+", storage_options=so)
    writer.store("new", "a", np.arange(2))
    other.store("new", "b", np.arange(3))
    reader, counts = _counted(s3_server, lambda: open_workspace(url, storage_options=so))
    assert reader.list_keys("new") == ["a", "b"], "records newer than the snapshot are applied"
    assert counts.total == 3 + 2, counts  # one GET per journal record not yet compacted
    assert_same(np.arange(3), reader.get("new", "b"))

    writer.close()  # compacts
    reader, counts = _counted(s3_server, lambda: open_workspace(url, storage_options=so))
    assert counts.total == 3, counts
    assert len(reader.list_keys("ns")) == 200 and reader.list_keys("new") == ["a", "b"]
    other.close()  # nothing new to compact: no write
    _, counts = _counted(s3_server, lambda: open_workspace(url, storage_options=so).close())
    assert counts.total == 3, "closing a read-only handle writes nothing"


def test_whole_items_read_one_request_per_shard(big, s3_server) -> None:
    url, items, _ = big
    lazy = open_workspace(url, storage_options=s3_server.storage_options)
    sd, counts = _counted(s3_server, lambda: lazy.get("rec", "spikes"))
    assert_same(items["spikes"], sd)
    # spike_times: 6 shards of 13 inner chunks, each read whole; spike_times_index: 1 chunk
    assert counts.total <= 8, counts
    pcm, counts = _counted(s3_server, lambda: lazy.get("rec", "correlation"))
    assert_same(items["correlation"], pcm)
    assert counts.total <= 2, counts  # the whole matrix is one shard
    rss, counts = _counted(s3_server, lambda: lazy.get("rec", "burst_rates"))
    assert_same(items["burst_rates"], rss)
    assert counts.total <= 1 + EVENTS // 2, counts


def test_saving_a_new_workspace_is_its_objects_plus_two_requests(s3_server) -> None:
    """A save to a new S3 location writes each object once and asks only two
    questions first (the root document, one listing): no second listing of an
    empty prefix, no listing before the first snapshot, no object written twice."""
    rng = np.random.default_rng(3)
    ws = AnalysisWorkspace()
    ws.store("rec", "spikes", _spike_data(np.random.default_rng(4)))
    ws.store("rec", "matrix", rng.random((300, 40)))
    for i in range(20):
        ws.store("results", f"r{i}", {"score": float(i), "curve": rng.random(64), "label": "x"})
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    _, counts = _counted(s3_server, lambda: ws.save(url, storage_options=s3_server.storage_options))
    fs, root = fsspec.core.url_to_fs(url, **s3_server.storage_options)
    fs.invalidate_cache()
    objects = fs.find(root)
    assert counts.requests["PUT"] == len(objects), (counts, len(objects))
    assert counts.total == len(objects) + 2, (counts, len(objects))
    assert_same(ws.get("rec", "matrix"), AnalysisWorkspace.load_item(url, "rec", "matrix", storage_options=s3_server.storage_options))
