"""percentile: the one definition behind every p50/p90/p99 the runs report."""

from collector.bench.timing import percentile


def test_percentile_is_the_nearest_rank_of_the_sorted_values() -> None:
    values = [float(n) for n in range(100, 0, -1)]  # 100 down to 1, unsorted on purpose

    assert percentile(values, 0.5) == 51.0
    assert percentile(values, 0.9) == 91.0
    assert percentile(values, 0.99) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None
