"""In/Out aggregation against the paper's Table 2, and standard errors against hand-computed values."""

import math

import pytest

from modomodo.scoring import BenchmarkScore, aggregate, mean_and_stderr, paired_margin, score_benchmark

# Test-set sizes of paper.md Table 1: the weights of In-Score and Out-Score.
SIZES = {"lisa": 3397, "sat": 1928, "scienceqa": 2017, "chartqa": 2500, "infovqa": 2801, "mathvista": 1000, "mmmu": 900}
GROUPS = {"lisa": "in", "sat": "in", "scienceqa": "in", "chartqa": "out", "infovqa": "out", "mathvista": "out", "mmmu": "out"}

# paper.md section 6.3, Table 2: LISA, SAT, ScienceQA, ChartQA, InfoVQA, MathVista, MMMU, In-Score, Out-Score.
TABLE_2 = [
    ("Base (Qwen2-VL-2B-Instruct)", 0.1525, 0.2479, 0.0486, 0.236, 0.3144, 0.391, 0.3789, 0.149, 0.3059),
    ("Seed/Single 1 (COCO)", 0.4015, 0.5047, 0.0258, 0.41, 0.5357, 0.436, 0.3811, 0.3254, 0.4589),
    ("Seed/Single 2 (LISA)", 0.4433, 0.4035, 0.0253, 0.3704, 0.476, 0.426, 0.3922, 0.318, 0.4219),
    ("Seed/Single 3 (GeoQAV)", 0.0835, 0.2547, 0.4284, 0.4936, 0.5086, 0.405, 0.3989, 0.2232, 0.4753),
    ("Seed/Single 4 (SAT)", 0.0551, 0.5949, 0.063, 0.5476, 0.5075, 0.414, 0.3722, 0.199, 0.4915),
    ("Seed/Single 5 (ScienceQA)", 0.0279, 0.3786, 0.7828, 0.494, 0.3787, 0.426, 0.3867, 0.3274, 0.4263),
    ("Seed/Exclude-one 2345 (no COCO)", 0.4393, 0.5897, 0.7313, 0.5644, 0.5319, 0.443, 0.4022, 0.559, 0.5146),
    ("Seed/Exclude-one 1345 (no LISA)", 0.4064, 0.5902, 0.7288, 0.4488, 0.5471, 0.429, 0.4011, 0.5432, 0.4783),
    ("Seed/Exclude-one 1245 (no GeoQAV)", 0.4728, 0.6011, 0.7283, 0.5424, 0.4875, 0.437, 0.4022, 0.5767, 0.4889),
    ("Seed/Exclude-one 1235 (no SAT)", 0.4727, 0.4824, 0.7313, 0.498, 0.4858, 0.423, 0.4122, 0.5463, 0.4721),
    ("Seed/Exclude-one 1234 (no ScienceQA)", 0.4493, 0.5856, 0.4259, 0.5108, 0.5387, 0.406, 0.3978, 0.4787, 0.493),
    ("Seed/All 12345 (uniform)", 0.4778, 0.5737, 0.6991, 0.4816, 0.4681, 0.435, 0.41, 0.5638, 0.4609),
    ("Heuristic, Step-averaged Ain", 0.4687, 0.5928, 0.7476, 0.5524, 0.5111, 0.434, 0.4, 0.5779, 0.5008),
    ("Heuristic, Step-averaged Aout", 0.4616, 0.5788, 0.7179, 0.488, 0.5125, 0.422, 0.3989, 0.5628, 0.4772),
    ("Heuristic, Step-averaged Abal", 0.4755, 0.5892, 0.7338, 0.552, 0.5179, 0.441, 0.4144, 0.5763, 0.5061),
    ("Heuristic, Step-averaged Coli", 0.4494, 0.5773, 0.7055, 0.5304, 0.4851, 0.432, 0.3978, 0.5533, 0.4825),
    ("Heuristic, Step-averaged Norm", 0.4573, 0.5664, 0.705, 0.564, 0.5083, 0.467, 0.4133, 0.554, 0.51),
    ("Heuristic, 2000-step Ain", 0.4415, 0.5939, 0.7581, 0.522, 0.5036, 0.417, 0.4133, 0.5685, 0.4867),
    ("Heuristic, 2000-step Aout", 0.4075, 0.5799, 0.71, 0.4788, 0.5089, 0.429, 0.3911, 0.5359, 0.4726),
    ("Heuristic, 2000-step Abal", 0.4676, 0.5877, 0.7382, 0.5548, 0.5063, 0.436, 0.4078, 0.5735, 0.5011),
    ("Heuristic, 2000-step Coli", 0.4678, 0.5783, 0.6083, 0.4076, 0.5035, 0.422, 0.4089, 0.5354, 0.4471),
    ("Heuristic, 2000-step Norm", 0.4732, 0.5762, 0.7372, 0.5764, 0.5156, 0.449, 0.4022, 0.5728, 0.5133),
    ("Heuristic (No1), Step-averaged Ain", 0.4498, 0.402, 0.7129, 0.5456, 0.5065, 0.428, 0.4089, 0.5095, 0.497),
    ("Heuristic (No1), Step-averaged Aout", 0.0873, 0.5856, 0.7015, 0.4692, 0.4932, 0.421, 0.4022, 0.3869, 0.4635),
    ("Heuristic (No1), Step-averaged Abal", 0.4666, 0.5892, 0.7447, 0.5572, 0.5307, 0.427, 0.3967, 0.5752, 0.5088),
    ("Heuristic (No1), Step-averaged Coli", 0.448, 0.5923, 0.704, 0.4836, 0.5002, 0.402, 0.3933, 0.5562, 0.4674),
    ("Heuristic (No1), Step-averaged Norm", 0.4662, 0.5794, 0.711, 0.5072, 0.507, 0.42, 0.41, 0.5632, 0.4829),
    ("Heuristic (No1), 2000-step Ain", 0.4257, 0.4414, 0.7204, 0.5096, 0.4308, 0.403, 0.3956, 0.5108, 0.4499),
    ("Heuristic (No1), 2000-step Aout", 0.0556, 0.5731, 0.6896, 0.488, 0.5053, 0.415, 0.4022, 0.3657, 0.4739),
    ("Heuristic (No1), 2000-step Abal", 0.4637, 0.5529, 0.7248, 0.4904, 0.4847, 0.429, 0.3922, 0.5589, 0.4674),
    ("Heuristic (No1), 2000-step Coli", 0.4815, 0.5897, 0.7105, 0.514, 0.4978, 0.42, 0.4067, 0.5728, 0.4812),
    ("Heuristic (No1), 2000-step Norm", 0.4065, 0.5892, 0.7169, 0.5596, 0.5158, 0.424, 0.3944, 0.5398, 0.5031),
    ("Model-based 001", 0.2274, 0.5871, 0.7387, 0.5196, 0.5246, 0.453, 0.3911, 0.4623, 0.4962),
    ("Model-based 002", 0.2674, 0.5762, 0.7288, 0.5536, 0.525, 0.438, 0.3956, 0.4752, 0.5067),
    ("Model-based 003", 0.2225, 0.5747, 0.7427, 0.514, 0.5005, 0.446, 0.4044, 0.4579, 0.4856),
    ("Model-based 004", 0.438, 0.597, 0.7154, 0.5344, 0.5016, 0.424, 0.3844, 0.556, 0.4876),
    ("Model-based 005", 0.1219, 0.6006, 0.7313, 0.4844, 0.5256, 0.414, 0.4178, 0.415, 0.4823),
    ("Model-based 006", 0.4293, 0.5949, 0.7402, 0.5528, 0.5126, 0.427, 0.3867, 0.5582, 0.4989),
    ("Model-based 007", 0.2382, 0.5669, 0.7234, 0.5412, 0.5269, 0.443, 0.4033, 0.4578, 0.5048),
    ("Model-based 008", 0.3843, 0.5887, 0.7214, 0.516, 0.5067, 0.448, 0.3989, 0.5306, 0.4883),
    ("Model-based 009", 0.3955, 0.5773, 0.7343, 0.5648, 0.5258, 0.434, 0.3789, 0.5363, 0.5082),
    ("Model-based 010", 0.3925, 0.5742, 0.7338, 0.5668, 0.5184, 0.446, 0.4, 0.534, 0.5104),]


@pytest.mark.parametrize("row", TABLE_2, ids=[row[0] for row in TABLE_2])
def test_in_and_out_scores_reproduce_table_2(row):
    _, *per_benchmark, in_score, out_score = row
    scores = [
        BenchmarkScore(name=name, group=GROUPS[name], n=SIZES[name], score=score, stderr=0.0)
        for name, score in zip(SIZES, per_benchmark)
    ]
    summary = aggregate(scores)
    # the paper prints 4 decimals (fewer where trailing zeros were dropped)
    assert summary["in_score"] == pytest.approx(in_score, abs=5e-5 + 1e-12)
    assert summary["out_score"] == pytest.approx(out_score, abs=5e-5 + 1e-12)


def test_accuracy_stderr_is_the_binomial_closed_form():
    score = score_benchmark("b", "in", [1, 1, 1, 0])  # p = 0.75, n = 4
    assert score.score == 0.75
    assert score.stderr == pytest.approx(math.sqrt(0.75 * 0.25 / 4))


def test_mean_iou_stderr_uses_the_population_variance_over_n():
    values = [0.2, 0.4, 0.9]
    mean = 0.5
    variance = ((0.2 - mean) ** 2 + (0.4 - mean) ** 2 + (0.9 - mean) ** 2) / 3  # = 0.0866...
    assert mean_and_stderr(values) == pytest.approx((mean, math.sqrt(variance / 3)))


def test_single_example_and_empty_benchmarks():
    assert mean_and_stderr([0.4]) == (0.4, 0.0)
    assert all(math.isnan(v) for v in mean_and_stderr([]))


def test_group_stderr_propagates_with_sample_share_weights():
    scores = [
        BenchmarkScore("a", "in", n=100, score=0.5, stderr=0.05),
        BenchmarkScore("b", "in", n=300, score=0.9, stderr=0.02),
        BenchmarkScore("c", "out", n=50, score=0.1, stderr=0.04),
    ]
    summary = aggregate(scores)
    assert summary["in_score"] == pytest.approx((100 * 0.5 + 300 * 0.9) / 400)
    assert summary["in_score_stderr"] == pytest.approx(math.sqrt((0.25 * 0.05) ** 2 + (0.75 * 0.02) ** 2))
    assert summary["out_score"] == 0.1 and summary["out_score_stderr"] == pytest.approx(0.04)


def test_an_empty_group_is_nan_not_zero():
    summary = aggregate([BenchmarkScore("a", "in", n=10, score=0.3, stderr=0.1)])
    assert math.isnan(summary["out_score"]) and math.isnan(summary["out_score_stderr"])


def test_paired_margin_uses_per_example_differences():
    candidate = {"a": [1, 1, 0, 1], "b": [1, 0]}
    baseline = {"a": [0, 1, 0, 1], "b": [0, 0]}
    groups = {"a": "in", "b": "in"}
    margin, stderr = paired_margin(candidate, baseline, groups, "in_score")
    # differences: a -> [1, 0, 0, 0] (mean 0.25, var 0.1875), b -> [1, 0] (mean 0.5, var 0.25)
    assert margin == pytest.approx(4 / 6 * 0.25 + 2 / 6 * 0.5)
    expected = math.sqrt((4 / 6) ** 2 * 0.1875 / 4 + (2 / 6) ** 2 * 0.25 / 2)
    assert stderr == pytest.approx(expected)
    # identical shifts on every example leave no paired uncertainty
    assert paired_margin({"a": [1, 1]}, {"a": [0, 0]}, {"a": "in"}, "a") == (1.0, 0.0)
