"""Instructions -> Plan: the phrasing corpus (tests/data/instruction_corpus.json), the held-back
set, and the contract the planning and previz code rely on."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from anix_core.instructions import InstructionError, Plan, parse, speed_class

DATA = Path(__file__).parent / "data"
CORPUS = json.loads((DATA / "instruction_corpus.json").read_text())
HELDOUT = json.loads((DATA / "instruction_heldout.json").read_text())
HELDOUT_MIN_ACCURACY = 0.85


def _parse_case(case: dict) -> Plan:
    return parse(case["text"], targets=case["targets"], num_frames=case.get("num_frames", 93),
                 fps=case.get("fps", 25.0), camera=case.get("camera_override"))


def _mismatches(case: dict) -> list[str]:
    """What differs between the plan of a case and its expectation (empty when it matches)."""
    if "error" in case:
        try:
            plan = _parse_case(case)
        except InstructionError as exc:
            return [] if case["error"].lower() in str(exc).lower() else [f"error message {exc!s}"]
        return [f"no error; plan {[s.action for s in plan.segments]}"]
    try:
        plan = _parse_case(case)
    except InstructionError as exc:
        return [f"error {exc}"]
    problems = []
    got = [{"category": s.category, "action": s.action, "direction": s.direction, "target": s.target,
            "speed_class": speed_class(s.speed_mps)} for s in plan.segments]
    if got != case["segments"]:
        problems.append(f"segments {got}")
    if plan.camera.behaviour != case["camera"] or plan.camera.explicit != case["camera_explicit"]:
        problems.append(f"camera {plan.camera.to_dict()}")
    for key, value in case.get("camera_params", {}).items():
        if plan.camera.params.get(key) != value:
            problems.append(f"camera {key}={plan.camera.params.get(key)}")
    if "bounds" in case and [[s.start_frame, s.end_frame] for s in plan.segments] != case["bounds"]:
        problems.append(f"bounds {[[s.start_frame, s.end_frame] for s in plan.segments]}")
    if "turn_deg" in case and [s.turn_deg for s in plan.segments] != case["turn_deg"]:
        problems.append(f"turn_deg {[s.turn_deg for s in plan.segments]}")
    if "subject" in case and plan.subject != case["subject"]:
        problems.append(f"subject {plan.subject!r}")
    return problems


def test_the_corpus_has_at_least_200_phrasings():
    assert len(CORPUS) >= 200
    assert len({(c["text"], c.get("camera_override"), tuple(c["targets"])) for c in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[repr(c["text"])[:60] for c in CORPUS])
def test_corpus_phrasing_reads_as_expected(case):
    assert _mismatches(case) == []


def test_held_back_phrasings_read_at_least_as_accurately_as_stated():
    wrong = [(c["text"], _mismatches(c)) for c in HELDOUT if _mismatches(c)]
    accuracy = 1.0 - len(wrong) / len(HELDOUT)
    assert len(HELDOUT) >= 40
    assert accuracy >= HELDOUT_MIN_ACCURACY, wrong


UNTIMED = [c for c in CORPUS if "error" not in c and "bounds" not in c and "num_frames" not in c]


@pytest.mark.parametrize("case", UNTIMED[::6], ids=lambda c: c["text"][:40])
@pytest.mark.parametrize("num_frames", [93, 17, 250])
def test_segments_cover_the_shot_contiguously(case, num_frames):
    plan = parse(case["text"], targets=case["targets"], num_frames=num_frames, camera=case.get("camera_override"))
    assert plan.segments[0].start_frame == 0
    assert plan.segments[-1].end_frame == num_frames
    for a, b in zip(plan.segments, plan.segments[1:]):
        assert a.end_frame == b.start_frame
    assert all(s.end_frame > s.start_frame for s in plan.segments)


def test_runs_forward_then_turns_left_and_waves():
    plan = parse("the robot runs forward, then turns left and waves")
    run, turn, wave = plan.segments
    assert (run.category, run.action, run.direction, run.speed_mps) == ("locomotion", "run", "forward", 3.5)
    assert (turn.action, turn.turn_deg, turn.speed_mps) == ("turn", 90.0, 0.0)
    assert wave.action == "wave" and wave.category == "gesture"
    assert run.end_frame - run.start_frame > wave.end_frame - wave.start_frame  # locomotion gets more time
    assert plan.camera.behaviour == "follow" and not plan.camera.explicit
    assert plan.subject == "the robot"


def test_gait_speeds_are_real_speeds():
    speeds = {verb: parse(f"{verb} forward").segments[0].speed_mps for verb in ("walk", "jog", "run", "sprint")}
    assert speeds == {"walk": 1.4, "jog": 2.5, "run": 3.5, "sprint": 6.0}
    assert parse("walk slowly").segments[0].speed_mps < 1.4 < parse("walk quickly").segments[0].speed_mps


def test_turns_are_counter_clockwise_positive():
    assert [parse(t).segments[0].turn_deg for t in ("turn left", "turn right", "turn around", "spin")] == \
        [90.0, -90.0, 180.0, 360.0]


def test_targets_match_blender_names_and_keep_the_users_spelling():
    targets = {"Fountain.001": (0.0, 0.0, 0.0), "Park_Bench": (0.0, -3.0, 0.0)}
    assert parse("walks to the fountain", targets=targets).segments[0].target == "Fountain.001"
    assert parse("walk to the park bench", targets=targets).segments[0].target == "Park_Bench"
    assert parse("run to the Fountian!", targets=targets).segments[0].target == "Fountain.001"


def test_a_missing_target_names_the_targets_there_are():
    with pytest.raises(InstructionError) as err:
        parse("walks to the statue", targets=["fountain", "bench"])
    assert "fountain" in str(err.value) and "bench" in str(err.value)
    assert err.value.suggestions


def test_a_target_with_no_targets_at_all_says_to_add_an_anchor_in_blender():
    with pytest.raises(InstructionError, match="Blender") as err:
        parse("walks to the fountain")
    assert "fountain" in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", "...", "asdf", "blah blah"])
def test_unusable_text_is_refused_with_example_phrasings(text):
    with pytest.raises(InstructionError) as err:
        parse(text)
    assert len(err.value.suggestions) >= 2
    assert err.value.suggestions[0] in str(err.value)


@pytest.mark.parametrize("text", ["walk forward and backward at the same time", "stand still and run",
                                  "runs left and right", "stands still while running"])
def test_contradictions_are_explained(text):
    with pytest.raises(InstructionError, match="at once|contradict|same time"):
        parse(text)


def test_unknown_verbs_are_kept_for_the_model_with_a_static_root():
    plan = parse("the robot levitates gracefully")
    seg = plan.segments[0]
    assert (seg.category, seg.action, seg.speed_mps) == ("gesture", "levitates gracefully", 0.0)
    assert plan.camera.behaviour == "static"


def test_camera_only_text_is_a_standing_character_and_that_camera():
    plan = parse("camera orbits around")
    assert [(s.category, s.action) for s in plan.segments] == [("idle", "stand")]
    assert plan.camera.behaviour == "orbit" and plan.camera.explicit


def test_the_users_camera_wins_over_text_and_rule():
    assert parse("runs forward, camera orbits", camera="static").camera.to_dict() == \
        {"behaviour": "static", "explicit": True}
    assert parse("waves", camera="keyframes").camera.behaviour == "keyframes"
    with pytest.raises(InstructionError, match="camera behaviour"):
        parse("waves", camera="crane")


def test_plan_round_trips_through_json():
    plan = parse("jog to the bench for 2 seconds; sit down, camera orbits right 180 degrees",
                 targets=["bench"], num_frames=120, fps=24)
    d = json.loads(json.dumps(plan.to_dict()))
    assert set(d) == {"text", "num_frames", "fps", "subject", "segments", "camera"}
    assert d["camera"] == {"behaviour": "orbit", "direction": "right", "degrees": 180.0, "explicit": True}
    assert set(d["segments"][0]) >= {"category", "action", "direction", "speed_mps", "start_frame", "end_frame", "target"}
    assert Plan.from_dict(d) == plan


def test_durations_longer_than_the_shot_are_refused():
    with pytest.raises(InstructionError, match="--frames"):
        parse("sprint for 10 seconds", num_frames=93)


def test_anix_plan_prints_the_plan_as_json(capsys):
    from anix_core.cli import main

    assert main(["plan", "walk to the fountain, then wave", "--targets", "fountain=0,0,0", "--frames", "50"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["num_frames"] == 50
    assert [(s["action"], s["target"]) for s in d["segments"]] == [("walk", "fountain"), ("wave", None)]
    assert d["camera"]["behaviour"] == "follow"


def test_anix_plan_reports_a_missing_target_as_a_user_error(capsys):
    from anix_core.cli import main

    assert main(["plan", "walk to the statue", "--targets", "fountain=0,0,0"]) == 2
    assert "fountain" in capsys.readouterr().err
