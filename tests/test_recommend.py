"""Recommendation by the model: the mixture a strategy bets on now, which need not be the luckiest trial."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from modomodo import Mixture, Observation, best_observed, get_component, recommend
from modomodo.cli import _add_commands, cli

DOMAINS = ["a", "b", "c"]
PEAK = np.array([0.6, 0.3, 0.1])


def truth(w) -> float:
    return 0.5 - float(np.sum((np.asarray(w) - PEAK) ** 2))


def lucky_history():
    """Twenty noisy runs of a smooth surface (noise sd 0.01); the sixth best by true score drew enough noise to
    be the best observed, by 0.01: the winner's curse."""
    rng = np.random.default_rng(3)
    points = rng.dirichlet(np.ones(3), 20)
    true = [truth(p) for p in points]
    lucky = int(np.argsort(true)[-6])
    history = []
    for index, point in enumerate(points):
        noise = max(true) + 0.01 - true[index] if index == lucky else rng.normal(0, 0.01)
        history.append(Observation(Mixture.normalised(zip(DOMAINS, point)),
                                   {"out_score": truth(point) + noise, "out_score_stderr": 0.01}))
    return history, Mixture.normalised(zip(DOMAINS, points[lucky]))


@pytest.mark.parametrize("strategy, options", [("botorch-gp", {}), ("botorch-gp", {"recommendation": "evidence"}),
                                               ("botorch-gp", {"recommendation": "auto"}), ("quadratic", {})])
def test_the_model_does_not_pick_the_lucky_trial(strategy, options):
    history, lucky = lucky_history()
    assert best_observed(history, "out_score").mixture == lucky
    tried, anywhere = get_component("optimizers", strategy)(DOMAINS, seed=0, **options).recommend(history)
    true_scores = {o.mixture: truth(o.mixture.vector(DOMAINS)) for o in history}
    assert tried.among == "tried" and tried.mixture != lucky
    assert true_scores[tried.mixture] >= sorted(true_scores.values())[-3]  # one of the three truly best tried
    assert tried.sd is not None and 0 < tried.sd < 0.1
    assert abs(tried.predicted - true_scores[tried.mixture]) < 3 * tried.sd + 0.01
    assert anywhere.among == "simplex"
    assert truth(anywhere.mixture.vector(DOMAINS)) >= max(true_scores.values()) - 0.01


def test_an_uncertain_lead_over_the_uniform_mixture_keeps_the_uniform_mixture():
    """A flat surface measured with noise 0.02: some mixture always scores above the uniform one by luck. With
    ``confidence_over_uniform`` the model keeps the uniform mixture; without it, it moves to a lucky one."""
    rng = np.random.default_rng(5)
    points = np.vstack([np.full(3, 1 / 3), rng.dirichlet(np.ones(3), 15)])
    history = [Observation(Mixture.normalised(zip(DOMAINS, p)), {"out_score": 0.5 + rng.normal(0, 0.02)})
               for p in points]
    uniform = Mixture.uniform(DOMAINS)
    gp = get_component("optimizers", "botorch-gp")
    assert gp(DOMAINS, seed=0).recommend(history, over_simplex=False)[0].mixture != uniform
    [kept] = gp(DOMAINS, seed=0, confidence_over_uniform=0.9).recommend(history, over_simplex=False)
    assert kept.mixture == uniform and kept.among == "tried"


def test_a_clear_lead_over_the_uniform_mixture_is_recommended():
    history, _ = lucky_history()
    uniform = Mixture.uniform(DOMAINS)
    history.append(Observation(uniform, {"out_score": truth(uniform.vector(DOMAINS)), "out_score_stderr": 0.01}))
    gp = get_component("optimizers", "botorch-gp")
    plain = gp(DOMAINS, seed=0).recommend(history, over_simplex=False)[0]
    guarded = gp(DOMAINS, seed=0, confidence_over_uniform=0.9).recommend(history, over_simplex=False)[0]
    assert guarded.mixture == plain.mixture != uniform


def test_a_strategy_without_a_model_recommends_the_best_observed_mean():
    history, lucky = lucky_history()
    [pick] = recommend(get_component("optimizers", "random")(DOMAINS, seed=0), history, "out_score")
    assert pick.among == "observed" and pick.mixture == lucky and pick.sd is None
    replicated = history + [Observation(lucky, {"out_score": 0.0})]  # a second seed brings it down
    assert best_observed(replicated, "out_score").mixture != lucky


def test_a_model_that_cannot_fit_falls_back_to_the_best_observed():
    history, _ = lucky_history()
    [pick] = recommend(get_component("optimizers", "botorch-gp")(DOMAINS, seed=0), history[:1], "out_score")
    assert pick.among == "observed"


def test_suggest_recommend_prints_both_picks(tmp_path):
    history, lucky = lucky_history()
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps({**dict(o.mixture), **o.scores}) + "\n" for o in history))
    _add_commands()
    result = CliRunner().invoke(cli, ["suggest", "--optimizer", "quadratic", "--history", str(path), "--recommend"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["among"] for line in lines] == ["tried", "simplex"]
    assert set(lines[0]["mixture"]) == set(DOMAINS) and lines[0]["mixture"] != dict(lucky)
    assert all(isinstance(line["predicted"], float) and line["sd"] > 0 for line in lines)
