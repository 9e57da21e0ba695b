"""The models: shared checks over every online model, the shipped weights, and offline retraining."""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import pickle
import random
from dataclasses import replace
from pathlib import Path

import pytest
from river import anomaly, compose, preprocessing

from detector.core.engine import Engine, EngineConfig
from detector.core.growth import GrowthFeatures
from detector.core.rings import RingFeatures
from detector.core.scoring import Scorer, load_weights
from detector.simulation import scenario
from detector.simulation.scenario import SimulationConfig, generate
from models import retrain
from models.anomaly import CandidateNovelty
from models.linear import LogisticScore
from models.online import ReviewerFeedbackModel
from models.retrain import (
    EXTRA_STREAMS,
    add_arguments,
    fit_score,
    fit_score_on_top,
    label_candidates,
    run,
    training_seeds,
)


def stream(rng: random.Random, n: int = 400) -> list[tuple[dict[str, float], bool]]:
    """Candidates where closure separates rings (True) from organic groups."""
    rows = []
    for _ in range(n):
        ring = rng.random() < 0.3
        closure = rng.uniform(0.7, 1.0) if ring else rng.uniform(0.0, 0.5)
        rows.append(({"closure": closure, "size": rng.uniform(4, 20)}, ring))
    return rows


ONLINE_MODELS = {
    "novelty": lambda: CandidateNovelty(seed=3, window_size=50),
    "feedback": lambda: ReviewerFeedbackModel(min_labels=10),
}


def learn(model, rows) -> None:
    for x, y in rows:
        if isinstance(model, ReviewerFeedbackModel):
            model.learn_one(x, y)
        else:
            model.learn_one(x)


def predict(model, x) -> float | None:
    return model.predict_proba_one(x) if isinstance(model, ReviewerFeedbackModel) else model.score_one(x)


@pytest.mark.parametrize("name", sorted(ONLINE_MODELS))
def test_every_online_model_is_deterministic_for_a_seed(name):
    a, b = ONLINE_MODELS[name](), ONLINE_MODELS[name]()
    rows = stream(random.Random(1))
    learn(a, rows)
    learn(b, rows)
    probe = {"closure": 0.8, "size": 9.0}
    assert predict(a, probe) == predict(b, probe)


@pytest.mark.parametrize("name", sorted(ONLINE_MODELS))
def test_every_online_model_survives_a_snapshot(name):
    model = ONLINE_MODELS[name]()
    learn(model, stream(random.Random(2)))
    clone = pickle.loads(pickle.dumps(model))
    probe = {"closure": 0.2, "size": 5.0}
    assert predict(clone, probe) == predict(model, probe)


@pytest.mark.parametrize("name", sorted(ONLINE_MODELS))
def test_every_online_model_scores_without_learning(name):
    model = ONLINE_MODELS[name]()
    learn(model, stream(random.Random(3)))
    before = copy.deepcopy(model)
    predict(model, {"closure": 0.5, "size": 6.0})
    probe = {"closure": 0.9, "size": 12.0}
    assert predict(model, probe) == predict(before, probe)


@pytest.mark.parametrize("name", sorted(ONLINE_MODELS))
def test_every_online_model_handles_a_missing_feature(name):
    model = ONLINE_MODELS[name]()
    learn(model, stream(random.Random(4)))
    value = predict(model, {"closure": 0.9})
    assert value is None or 0.0 <= value <= 1.0


def rivers_own_novelty(seed: int, window_size: int) -> compose.Pipeline:
    return compose.Pipeline(
        preprocessing.MinMaxScaler(),
        anomaly.HalfSpaceTrees(n_trees=15, height=8, window_size=window_size, seed=seed),
    )


@pytest.mark.parametrize("seed", [5, 6])
def test_novelty_scores_exactly_as_rivers_own_half_space_trees(seed):
    # The compiled forest walks the trees river built: every score must be river's to the last bit, through window
    # pivots, candidates missing a feature, values outside the range seen, and a snapshot taken mid-window.
    rng = random.Random(seed)
    rows = [x for x, _ in stream(rng, n=700)]
    for i in range(37, 700, 37):  # the first candidate has every feature: the trees split on its features
        del rows[i]["size" if i % 2 else "closure"]
    probes = [{"closure": 1.4, "size": -3.0}, {"closure": 0.5}, {}, *rows[:5]]
    ours, river_own = CandidateNovelty(seed=seed, window_size=100), rivers_own_novelty(seed, 100)
    for step, x in enumerate(rows):
        ours.learn_one(x)
        river_own.learn_one(x)
        if step == 333:
            ours = pickle.loads(pickle.dumps(ours))
        if ours.seen >= 100:
            assert [ours.score_one(p) for p in [x, *probes]] == [river_own.score_one(p) for p in [x, *probes]]


def test_a_damaged_novelty_snapshot_is_refused():
    model = CandidateNovelty(seed=1, window_size=50)
    learn(model, stream(random.Random(7)))
    blob = pickle.dumps(model.forest)
    state = model.forest.__reduce__()[1][0]
    for damaged in (state[:-1], state + b"\0", b"\x09" + state[1:]):
        with pytest.raises(ValueError, match="half-space forest"):
            type(model.forest).from_state(damaged)
    assert pickle.loads(blob).score_one([0.5, 6.0]) == model.forest.score_one([0.5, 6.0])


def test_the_shipped_weights_use_only_features_the_engine_produces():
    rings = set(RingFeatures.__slots__)
    produced = {
        "farming_ring": rings,
        "farming_ring_dense": rings,
        "farming_ring_early": rings,
        "farming_ring_local": rings,
        "farming_ring_new_ties": rings,
        "farming_ring_reciprocal": rings,
        "follower_growth": set(GrowthFeatures.__slots__),
    }
    weights = load_weights()
    assert set(weights) == set(produced)
    for scheme, score in weights.items():
        assert set(score.coefs) <= produced[scheme], scheme
        assert score.log1p <= set(score.coefs)


def test_retraining_recovers_the_separating_feature():
    rows = stream(random.Random(5), n=600)
    score = fit_score(rows, ["closure", "size"], frozenset({"size"}))
    assert score.coefs["closure"] > 0
    assert score.score({"closure": 0.95, "size": 8}) > 0.9 > 0.1 > score.score({"closure": 0.1, "size": 8})
    assert LogisticScore.from_json(score.to_json()) == score


def test_the_candidates_a_stream_yields_do_not_depend_on_the_weights():
    # Otherwise every refit would change the training data it was fitted on, and `detector train` would drift.
    events, _ = generate(SimulationConfig(seed=4, rings=3, bursts=2, days=20))
    shipped = load_weights()
    flipped = {
        s: LogisticScore(-score.intercept, {n: -w for n, w in score.coefs.items()}, score.log1p)
        for s, score in shipped.items()
    }

    def candidates(weights: dict[str, LogisticScore]) -> list[tuple]:
        engine = Engine(EngineConfig(record_candidates=True), scorer=Scorer(weights))
        engine.process_batch(sorted(events, key=lambda e: e.ts))
        return [(c["scheme"], c["ts"], c["accounts"], c["features"]) for c in engine.candidates]

    with_shipped = candidates(shipped)
    assert with_shipped and with_shipped == candidates(flipped)


def test_candidates_are_labelled_from_the_ground_truth():
    truth = {
        "schemes": [
            {"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["a", "b", "c", "d"]},
            {"scheme_id": "s1", "scheme": "follower_growth", "accounts": ["star"]},
        ]
    }
    candidates = [
        {"scheme": "farming_ring", "accounts": ["a", "b", "c", "x"], "features": {}},  # mostly the ring
        {"scheme": "farming_ring", "accounts": ["a", "x", "y", "z"], "features": {}},  # an organic circle
        {"scheme": "follower_growth", "accounts": ["star"], "features": {}},
        {"scheme": "follower_growth", "accounts": ["viral"], "features": {}},
    ]
    assert [label for _, _, label in label_candidates(candidates, truth)] == [True, False, True, False]


def test_retraining_keeps_the_weights_of_a_model_whose_candidates_hold_one_class(tmp_path):
    rng = random.Random(9)
    truth = {
        "schemes": [
            {"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["r0", "r1", "r2", "r3"]},
            {"scheme_id": "s1", "scheme": "follower_growth", "accounts": ["star"]},
        ]
    }
    ring, organic = ["r0", "r1", "r2", "r3"], ["o0", "o1", "o2", "o3"]

    def candidate(scheme: str, model: str, accounts: list[str], closure: float) -> dict:
        features = {"tie_density": closure, "inflow_closure": closure, "size": 4.0, "excess_z": 10 * closure}
        return {"scheme": scheme, "model": model, "accounts": accounts, "features": features}

    streams = []
    for i in range(2):
        rows = []
        for _ in range(60):
            rows.append(candidate("farming_ring", "farming_ring", ring, rng.uniform(0.6, 1.0)))
            rows.append(candidate("farming_ring", "farming_ring", organic, rng.uniform(0.0, 0.5)))
            rows.append(candidate("farming_ring", "farming_ring_early", ring, rng.uniform(0.5, 1.0)))
            rows.append(candidate("follower_growth", "follower_growth", ["star"], rng.uniform(0.6, 1.0)))
            rows.append(candidate("follower_growth", "follower_growth", ["viral"], rng.uniform(0.0, 0.5)))
        cands, truth_path = tmp_path / f"c{i}.jsonl", tmp_path / f"t{i}.json"
        cands.write_text("".join(json.dumps(r) + "\n" for r in rows))
        truth_path.write_text(json.dumps(truth))
        streams += ["--candidates", str(cands), str(truth_path)]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "weights.json"
    assert run(parser.parse_args([*streams, "--out", str(out)])) == 0

    fitted = load_weights(out)
    shipped = load_weights()
    assert fitted["farming_ring_early"] == shipped["farming_ring_early"]  # only positives: nothing to learn from
    assert fitted["farming_ring"] != shipped["farming_ring"]
    assert fitted["farming_ring"].coefs["tie_density"] > 0


def test_a_reciprocal_group_also_teaches_the_weights_of_the_search_that_found_it():
    truth = {"schemes": [{"scheme_id": "s0", "scheme": "farming_ring", "accounts": ["r0", "r1", "r2", "r3"]}]}
    features = {"tie_density": 1.0, "mutual_density": 1.0}
    found = {"scheme": "farming_ring", "accounts": ["r0", "r1", "r2", "r3"], "features": features}
    reciprocal = found | {"model": "farming_ring_reciprocal", "search_model": "farming_ring_dense"}
    ordinary = found | {"model": "farming_ring", "search_model": "farming_ring"}
    assert label_candidates([reciprocal, ordinary], truth) == [
        ("farming_ring_reciprocal", features, True),
        ("farming_ring_dense", features, True),  # its search's weights are fitted on every group it finds
        ("farming_ring", features, True),
    ]


def fake_stream(background: str, seed: int, kind: str | None = None) -> list[tuple[str, dict, bool]]:
    """Labelled candidates as `simulate_candidates` returns them. Only the extra streams hold the candidates of the
    models they are meant for, and on them every feature says the opposite of the dense streams and of the shipped
    weights (three times as many rows): a model trained on the wrong streams gets a weight of the wrong sign."""
    rng = random.Random(seed)
    rows = []
    for _ in range(40):
        high, low = rng.uniform(0.6, 1.0), rng.uniform(0.0, 0.4)
        if kind is None:
            rows += [("farming_ring", {"tie_density": high}, True), ("farming_ring", {"tie_density": low}, False)]
            continue
        for model in ("farming_ring", *EXTRA_STREAMS[kind].models) * 3:
            feature = SIGNAL_OF.get(model, "tie_density")
            rows += [(model, {feature: high}, False), (model, {feature: low}, True)]
    return rows


#: The feature `fake_stream` varies for a model, one its shipped weights take as a sign of a scheme (the ring models':
#: tie_density).
SIGNAL_OF = {"follower_growth": "fresh_share"}


def test_the_extra_training_streams_train_only_the_models_they_are_meant_for(tmp_path, monkeypatch):
    monkeypatch.setattr(retrain, "simulate_candidates", fake_stream)  # the pool's forked workers see it too
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "weights.json"
    assert run(parser.parse_args(["--seeds", "2", "--out", str(out)])) == 0
    fitted, shipped = load_weights(out), load_weights()
    assert {kind: set(extra.models) for kind, extra in EXTRA_STREAMS.items()} == {
        "sparse": {"farming_ring_local"},
        "reciprocal": {"farming_ring_reciprocal"},
        "quiet": {"farming_ring_early"},
        "signups": {"follower_growth"},
    }
    for model in ("farming_ring_local", "farming_ring_reciprocal", "farming_ring_early", "follower_growth"):
        feature = SIGNAL_OF.get(model, "tie_density")
        assert shipped[model].coefs[feature] > 0
        assert fitted[model].coefs[feature] < 0, model  # learnt from its extra streams
    assert fitted["farming_ring"].coefs["tie_density"] > 0  # never saw them
    assert fitted["farming_ring_dense"] == shipped["farming_ring_dense"]  # no candidates at all: kept


def test_an_extra_stream_is_simulated_as_a_dense_one_with_its_kind_s_changes(monkeypatch):
    simulated = []

    def no_events(config: SimulationConfig) -> tuple[list, dict]:
        simulated.append(config)
        return [], {"schemes": []}

    monkeypatch.setattr(scenario, "generate", no_events)
    for kind in (None, "sparse", "reciprocal", "quiet", "signups"):
        assert retrain.simulate_candidates("synthetic", 7, kind) == []
    dense, sparse, reciprocal, quiet, signups = simulated
    assert sparse == replace(dense, activity=0.1)
    assert reciprocal == replace(dense, reciprocal_rings=1.0)  # every ring trades tit for tat
    assert quiet == replace(dense, quiet_share=0.3)  # old friends coming back together
    # Fans signing up to follow an account, and bought accounts registered as their order runs.
    assert signups == replace(dense, signup_waves=2, on_demand_bursts=0.5)


def recording_stream(background: str, seed: int, kind: str | None = None) -> list[tuple[str, dict, bool]]:
    """`fake_stream`, noting each stream asked for in the folder RECORD_STREAMS_IN (forked workers inherit it)."""
    (Path(os.environ["RECORD_STREAMS_IN"]) / f"{seed}-{kind}").touch()
    return fake_stream(background, seed, kind)


def test_another_first_seed_trains_on_other_streams_dense_and_extra(tmp_path, monkeypatch):
    seen = tmp_path / "seeds"
    seen.mkdir()
    monkeypatch.setenv("RECORD_STREAMS_IN", str(seen))
    monkeypatch.setattr(retrain, "simulate_candidates", recording_stream)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--seeds", "2", "--first-seed", "5000", "--out", str(tmp_path / "w.json")])) == 0
    assert sorted(f.name for f in seen.iterdir()) == [
        "5000-None",
        "5001-None",
        "5100-sparse",
        "5101-sparse",
        "5200-reciprocal",
        "5201-reciprocal",
        "5300-quiet",
        "5301-quiet",
        "5400-signups",
        "5401-signups",
    ]
    assert training_seeds(2, first=5000) == {5000, 5001, 5100, 5101, 5200, 5201, 5300, 5301, 5400, 5401}
    # The shipped weights', refused by eval:
    assert training_seeds() == {1000 + offset + i for offset in (0, 100, 200, 300, 400) for i in range(16)}


def test_a_feature_learnt_on_top_moves_the_first_fit_s_score_and_nothing_else():
    # The first fit's streams hold rings only; in the others, organic groups trade as densely but are acquainted.
    # Learnt on top, acquaintance counts against a group, and groups the first fit scored alike stay alike.
    first = LogisticScore(-1.0, {"tie_density": 2.0, "size": 0.5}, frozenset({"size"}))
    rng = random.Random(3)
    rows = []
    for _ in range(200):
        group = {"tie_density": rng.uniform(0.5, 1.0), "size": rng.randint(4, 20)}
        rows += [(group | {"acquainted_share": rng.uniform(0.0, 0.3)}, True)]
        rows += [(group | {"acquainted_share": rng.uniform(0.6, 1.0)}, False)]
    fitted = fit_score_on_top(rows, first, ["acquainted_share"], c=1.0)
    assert set(fitted.coefs) == {"acquainted_share", "size", "tie_density"} and fitted.log1p == first.log1p
    assert fitted.coefs["acquainted_share"] < 0
    alike = [{"tie_density": 1.0, "size": 4.0}, {"tie_density": 0.9, "size": 4.0}]
    alike[1]["size"] = math.expm1((first.logit(alike[0]) - first.intercept - 2.0 * 0.9) / 0.5)
    assert first.logit(alike[0]) == pytest.approx(first.logit(alike[1]))
    assert fitted.logit(alike[0]) == pytest.approx(fitted.logit(alike[1]), abs=1e-3)
    assert fitted.score(alike[0] | {"acquainted_share": 1.0}) < fitted.score(alike[0])


def test_reviewer_decisions_teach_the_model_that_scored_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(retrain, "simulate_candidates", fake_stream)  # simulated: dense groups are rings
    ring_features = {name for model in ("farming_ring", "farming_ring_dense") for name in load_weights()[model].coefs}
    ring = dict.fromkeys(sorted(ring_features), 0.0) | {"tie_density": 0.9}
    # Dense, and every tie answered: what the simulated groups (ties only) never show.
    clique = ring | {"tie_density": 0.95, "mutual_density": 0.9}

    def line(features: dict, decision: str, model: str = "farming_ring") -> str:
        label = {"confirmed": True, "dismissed": False}.get(decision)
        return json.dumps({"model": model, "features": features, "decision": decision, "label": label}) + "\n"

    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(
        # The platform's reviewers keep dismissing a dense organic clique, and confirm the rings.
        line(clique, "dismissed") * 4
        + line(ring, "confirmed") * 4
        + line(clique, "escalated")
        + line({"tie_density": 0.95}, "confirmed")
        + "{not json\n"
        + line(ring, "confirmed", model="farming_ring_local") * 4  # confirmations only: no boundary to learn
        + line(ring, "confirmed", model="farming_ring_dense") * 6  # two dismissals: too few to mark one either
        + line(clique, "dismissed", model="farming_ring_dense") * 2
    )
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    def fitted(*extra: str) -> dict[str, LogisticScore]:
        out = tmp_path / "weights.json"
        assert run(parser.parse_args(["--seeds", "2", "--out", str(out), *extra])) == 0
        return load_weights(out)

    simulated_only = fitted()
    capsys.readouterr()
    with_decisions = fitted("--decisions", str(decisions))
    report = capsys.readouterr().err
    assert with_decisions["farming_ring"].score(clique) < 0.5 < simulated_only["farming_ring"].score(clique)
    assert with_decisions["farming_ring"].score(ring) > 0.5
    assert with_decisions["farming_ring_local"] == simulated_only["farming_ring_local"]
    assert with_decisions["follower_growth"] == simulated_only["follower_growth"]  # no decisions about it
    assert "decision lines left out: 3 (1 no label (escalated), 1 feature fresh_share, 1 not JSON)" in report
    assert f"{decisions}:10: feature fresh_share: not a finite number" in report
    assert "farming_ring: learnt from 8 decisions" in report
    assert (
        "farming_ring_local: its 4 decisions hold 4 confirmed and 0 dismissed, fewer than 3 of a kind; left out"
        in report
    )
    assert (
        "farming_ring_dense: its 8 decisions hold 6 confirmed and 2 dismissed, fewer than 3 of a kind; left out"
        in report
    )
    assert with_decisions["farming_ring_dense"] == simulated_only["farming_ring_dense"]
    # A decision counts as DECISION_WEIGHT simulated candidates unless told otherwise.
    assert fitted("--decisions", str(decisions), "--decision-weight", "0.01")["farming_ring"].score(clique) > 0.5
