"""A promotion policy trusts only gate decisions the store recorded, under the account that made them.

Attacks from issue 19 (holes 1 and 6) replayed against a real ``naiad server`` on loopback, with
accounts of every role: a contributor who logs a plain run with ``gate/verdict = "pass"`` (the old
evidence), who records a passing decision of their own, or who posts ``gate_passed`` to the webhooks,
promotes nothing and announces nothing.  A decision counts when a maintainer, owner or admin — or an
account the policy names (a CI service account) — recorded it, about this version, compared with the
version in production now, and recently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import naiad
from naiad import errors as E
from naiad.core import fields as F
from naiad.core import ops as O
from naiad.core.ops import Batch
from naiad.store import open_store
from registry_kit import PROJECT, controlled, new_model, promote
from services import TeamServer, as_user, team_server

pytestmark = pytest.mark.trust

DATA = "ab" * 32  # a dataset hash


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    grants = [("carl", PROJECT, "contributor"), ("mona", PROJECT, "maintainer"), ("ci-bot", PROJECT, "contributor"),
              ("vera", PROJECT, "viewer"), ("olga", "other", "owner")]
    with team_server(tmp_path_factory.mktemp("trust-promotion"), grants) as found:
        yield found


def post(server: TeamServer, who: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1{path}", json=body,
                      headers={"authorization": f"Bearer {server.tokens[who]}"})


def decide(server: TeamServer, who: str, model: str, candidate: str, baseline: str | None,
           verdict: str = "pass", **extra: Any) -> httpx.Response:
    return post(server, who, "/registry/gate-decisions", {
        "model": model, "candidate": candidate, "baseline": baseline, "dataset_hash": DATA, "n": 500,
        "verdict": verdict, "reason": "all 2 rule(s) passed", **extra})


def stage_of(server: TeamServer, version: str) -> str:
    info = server.store.get_container(short_id=version)
    return str(server.store.read_fields(info.uuid, ["sys/stage"])["sys/stage"].value)


def guarded_model(server: TeamServer, key: str, monkeypatch: pytest.MonkeyPatch, versions: int = 3) -> list[str]:
    """A model with ``versions`` versions, the first in production, then a policy requiring a gate."""
    as_user(server, "mona", monkeypatch)
    ids = new_model(key, versions=versions)
    promote(ids[0])
    model = naiad.init_model(with_id=f"DEF-{key}")
    model.set_promotion_policy(require_gate=True, reason="evidence first")
    model.stop()
    as_user(server, "carl", monkeypatch)
    return ids


def test_a_run_that_logs_gate_fields_is_no_evidence(server: TeamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    prod, cand, _ = guarded_model(server, "FRG", monkeypatch)
    # the forgery that promoted before: a plain run saying the gate passed this version
    run = naiad.init_run(project=PROJECT, tags=["gate", "pass"], capture_stdout=False, capture_stderr=False,
                         capture_hardware_metrics=False, source_files=[])
    run["gate"] = {"model": "DEF-FRG", "candidate": cand, "baseline": prod, "verdict": "pass", "dataset_hash": DATA,
                   "n_rows": 500, "reason": "all rules passed", "actor": "mona"}
    run.stop()
    with pytest.raises(E.PolicyError, match=f"and {cand} has none"):
        promote(cand)
    assert (stage_of(server, prod), stage_of(server, cand)) == ("production", "none")
    assert naiad.fetch_gate_decisions("DEF-FRG").empty  # the run is no decision either


def test_decisions_count_by_role_or_by_an_account_the_policy_names(server: TeamServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    prod, cand, _ = guarded_model(server, "ROL", monkeypatch)
    # who recorded a decision is never the caller's claim: a body naming an actor is refused outright
    claimed = decide(server, "carl", "DEF-ROL", cand, prod, actor="mona", actor_role="admin")
    assert claimed.status_code == 422 and "actor: Extra inputs are not permitted" in claimed.json()["error"]["message"]
    # a contributor may record a decision (it is kept, for the record), under their own name
    mine = decide(server, "carl", "DEF-ROL", cand, prod)
    assert mine.status_code == 200, mine.text
    assert (mine.json()["actor"], mine.json()["actor_role"]) == ("carl", "contributor")
    with pytest.raises(E.PolicyError) as refused:
        promote(cand)
    assert f"{cand}'s passing decision #{mine.json()['id']} does not count: carl (contributor) recorded it" in str(
        refused.value)
    assert "--gate-account NAME" in str(refused.value)
    # a viewer may not record one; an account of another project does not see the model at all
    assert decide(server, "vera", "DEF-ROL", cand, prod).status_code == 403
    assert decide(server, "olga", "DEF-ROL", cand, prod).status_code == 404
    # the CI service account counts once the policy names it (a maintainer's call; a contributor's is refused)
    model = naiad.init_model(with_id="DEF-ROL")
    with pytest.raises(E.PermissionDeniedError, match="maintainer"):
        model.set_promotion_policy(gate_accounts=["carl"])
    model.stop()
    as_user(server, "mona", monkeypatch)
    model = naiad.init_model(with_id="DEF-ROL")
    model.set_promotion_policy(gate_accounts=["ci-bot"], reason="CI gates")
    model.stop()
    events = [(e.name, e.before, e.after, e.actor) for e in server.store.registry_events(PROJECT, "DEF-ROL")
              if e.kind == "policy"]
    assert events[-1] == ("gate_accounts", "", "ci-bot", "mona")
    as_user(server, "carl", monkeypatch)
    with pytest.raises(E.PolicyError, match="or by ci-bot"):  # carl's own decision still does not count
        promote(cand)
    assert decide(server, "ci-bot", "DEF-ROL", cand, prod).status_code == 200
    promote(cand)
    assert (stage_of(server, prod), stage_of(server, cand)) == ("archived", "production")
    decisions = naiad.fetch_gate_decisions("DEF-ROL")
    assert list(zip(decisions["actor"], decisions["actor_role"], strict=True)) == [
        ("carl", "contributor"), ("ci-bot", "contributor")]
    # the policy's fields are moved by the registry only: a batch cannot rewrite the account list
    remote = open_store(server.url)
    info = remote.get_container(short_id="DEF-ROL")
    forged = remote.apply(Batch(info.uuid, "carl-forger", 1, [(O.ADD, "sys/policy/gate_accounts", ["carl"])]))
    assert len(forged.errors) == 1 and "sys/policy/gate_accounts" in forged.errors[0]


def test_a_decision_is_tied_to_the_version_in_production_and_ages(server: TeamServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, third = guarded_model(server, "TIE", monkeypatch)
    # a maintainer's pass compared with no baseline, or with a version that is not in production, is stale
    assert decide(server, "mona", "DEF-TIE", second, None).status_code == 200
    with pytest.raises(E.PolicyError, match=f"it compared {second} with no baseline, but {first} is in production now"):
        promote(second)
    assert decide(server, "mona", "DEF-TIE", second, third).status_code == 200
    with pytest.raises(E.PolicyError, match=f"it compared {second} with {third}, but {first} is in production now"):
        promote(second)
    # a failing decision is no evidence, whoever made it
    assert decide(server, "mona", "DEF-TIE", third, first, verdict="fail").status_code == 200
    with pytest.raises(E.PolicyError, match=f"{third}'s gate decisions did not pass"):
        promote(third)
    # the right comparison, but too old
    assert decide(server, "mona", "DEF-TIE", second, first).status_code == 200
    monkeypatch.setenv("NAIAD_GATE_MAX_AGE", "0")
    with pytest.raises(E.PolicyError, match="older than NAIAD_GATE_MAX_AGE"):
        promote(second)
    monkeypatch.delenv("NAIAD_GATE_MAX_AGE")
    promote(second)
    assert stage_of(server, second) == "production"
    # now that second is in production, the decision against first counts for nobody else
    assert decide(server, "mona", "DEF-TIE", third, first).status_code == 200
    with pytest.raises(E.PolicyError, match=f"but {second} is in production now"):
        promote(third)
    # a decision names versions of the model it is about
    other = new_model("OTH")[0]
    wrong = decide(server, "mona", "DEF-TIE", other, second)
    assert wrong.status_code == 400 and f"{other} is a version of DEF-OTH, not of DEF-TIE" in wrong.json()["error"][
        "message"]
    bad = post(server, "mona", "/registry/gate-decisions", {
        "model": "DEF-TIE", "candidate": third, "dataset_hash": "nope", "n": False, "verdict": "passed"})
    assert bad.status_code == 422


def test_gate_and_registry_events_are_sent_by_naiad_only(server: TeamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    prod, cand, _ = guarded_model(server, "EVT", monkeypatch)
    server.store.add_webhook(PROJECT, "https://hooks.example.com/evt", "s" * 32, "*", actor="admin")
    before = len(server.store.list_deliveries(PROJECT, limit=10_000))
    for who in ("carl", "admin"):
        for event in ("gate_passed", "gate_failed", "stage_changed", "version_created"):
            forged = post(server, who, "/events", {"project": PROJECT, "event": event,
                                                   "payload": {"model": "DEF-EVT", "candidate": cand}})
            assert forged.status_code == 403, (who, event, forged.text)
            assert "is sent by naiad itself" in forged.json()["error"]["message"]
    assert len(server.store.list_deliveries(PROJECT, limit=10_000)) == before
    # a recorded decision is announced by the server, with the account that recorded it
    assert decide(server, "mona", "DEF-EVT", cand, prod).status_code == 200
    [sent] = [d for d in server.store.list_deliveries(PROJECT, limit=10_000)[: len(
        server.store.list_deliveries(PROJECT, limit=10_000)) - before] if d["event"] == "gate_passed"]
    assert '"actor":"mona"' in sent["payload"] and f'"candidate":"{cand}"' in sent["payload"]
    # what may still be posted: a test delivery
    assert post(server, "mona", "/events", {"project": PROJECT, "event": "test", "payload": {}}).status_code == 200


def test_the_embedded_store_refuses_posted_gate_events_too(tmp_path: Any) -> None:
    store = open_store(str(tmp_path / "store"))
    store.get_or_create_project(PROJECT)
    with pytest.raises(E.PermissionDeniedError, match="gate_passed is sent by naiad itself"):
        store.emit_event(PROJECT, "gate_passed", {})
    assert {"sys/policy/require_gate", "sys/policy/gate_accounts"} <= F.REGISTRY_PATHS


def test_monitoring_alerts_are_sent_by_naiad_only(server: TeamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """degradation_detected and drift_detected cannot be posted; the server judges a stored evaluation
    itself (POST /models/checks), from stored data, once per evaluation, naming the account that asked."""
    as_user(server, "mona", monkeypatch)
    [version] = new_model("MON")
    promote(version)
    server.store.add_webhook(PROJECT, "https://hooks.example.com/mon", "s" * 32, "degradation_detected",
                             actor="admin")
    before = len(server.store.list_deliveries(PROJECT, limit=10_000))
    for who in ("carl", "mona", "admin"):
        for event in ("degradation_detected", "drift_detected"):
            forged = post(server, who, "/events", {"project": PROJECT, "event": event,
                                                   "payload": {"model": "DEF-MON", "value": 0.1}})
            assert forged.status_code == 403 and "is sent by naiad itself" in forged.json()["error"]["message"]
    as_user(server, "carl", monkeypatch)
    good = naiad.evaluate(version, controlled(400, 0.95, 1), "label", "served", plots=False, n_boot=50)
    bad = naiad.evaluate(version, controlled(400, 0.70, 2), "label", "served", plots=False, n_boot=50)
    assert post(server, "carl", "/models/checks", {"model": "DEF-MON", "evaluation": good.run}).json() == {"sent": []}
    assert post(server, "vera", "/models/checks", {"model": "DEF-MON", "evaluation": bad.run}).status_code == 403
    assert post(server, "olga", "/models/checks", {"model": "DEF-MON", "evaluation": bad.run}).status_code == 404
    plain = naiad.init_run(project=PROJECT, capture_stdout=False, capture_stderr=False,
                           capture_hardware_metrics=False, source_files=[])
    plain_id = str(plain["sys/id"].fetch())
    plain.stop()
    not_eval = post(server, "carl", "/models/checks", {"model": "DEF-MON", "evaluation": plain_id})
    assert not_eval.status_code == 400 and "is not an evaluation of DEF-MON" in not_eval.json()["error"]["message"]
    assert len(server.store.list_deliveries(PROJECT, limit=10_000)) == before  # nothing forged was queued
    # the SDK's remote store asks the server, which judges by its own code: once per evaluation
    remote = open_store(server.url)
    assert remote.check_monitoring("DEF-MON", bad.run, lambda *_: [("degradation_detected", {"value": 1.0})]) == [
        "degradation_detected"]
    assert remote.check_monitoring("DEF-MON", bad.run, None) == []
    [sent] = server.store.list_deliveries(PROJECT, limit=10_000)[: 1]
    body = json.loads(sent["payload"])
    assert (sent["event"], body["actor"], body["evaluation"], body["version"]) == (
        "degradation_detected", "carl", bad.run, version)
    assert body["value"] == pytest.approx(0.70, abs=0.01) and body["reference"] == pytest.approx(0.95, abs=0.01)
