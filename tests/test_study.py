"""A report step's judge (coursegrader.Study): the student's study measured again by the reference.

Labs 6 and 8 judge their report steps with one Study. These tests hold its rules on made-up
reference runs: the form's words come first, then the setting's, then each arm's mean and spread
against the reference's band, then the verdict, which counts either way near its threshold; a
loss wins when it is lower, an accuracy when it is higher.
"""

import numpy as np
import pytest

from coursegrader import Study
from coursegrader.spec import MEAN_BAND, SPREAD_BAND, mean_band

IDEA = np.array([0.72, 0.73, 0.74, 0.75, 0.76])      # mean 0.74, std 0.0141: the band is MEAN_BAND
PLAIN = np.array([0.52, 0.53, 0.54, 0.55, 0.56])     # mean 0.54: the idea wins by 0.2


def _study(better="higher", near=0.02, measured=(IDEA, PLAIN), setting=None, form=lambda report: None):
    return Study(form=form, measure=lambda a, b: measured, arms=("with it", "without it"), near=near,
                 mean="mean {arm}", spread="spread {arm}", verdict="verdict", better=better, setting=setting)


def _report(first=IDEA, second=PLAIN, wins=True):
    return (1, 2, first.mean(), first.std(), second.mean(), second.std(), wins)


def test_the_reference_s_own_study_passes():
    assert _study().judge(_report()) is None


def test_the_band_of_a_mean_is_two_spreads_and_at_least_mean_band():
    assert mean_band(IDEA) == MEAN_BAND
    wide = np.array([0.0, 1.0])
    assert mean_band(wide) == pytest.approx(1.0)


@pytest.mark.parametrize("index,shift,words", [
    (2, MEAN_BAND + 0.01, "mean with it"), (4, -(MEAN_BAND + 0.01), "mean without it"),
    (3, SPREAD_BAND + 0.02, "spread with it"), (5, SPREAD_BAND + 0.02, "spread without it")])
def test_each_arm_s_mean_and_spread_must_be_the_reference_s(index, shift, words):
    report = list(_report())
    report[index] += shift
    assert _study().judge(report) == words
    report[index] -= shift * 0.5
    assert _study().judge(report) is None, "within the band, a number passes"


def test_the_verdict_must_be_the_reference_s_and_a_loss_wins_when_lower():
    assert _study().judge(_report(wins=False)) == "verdict"
    lower = _study(better="lower")
    assert lower.judge(_report(wins=True)) == "verdict", "the idea's loss is higher: it loses"
    assert lower.judge(_report(wins=False)) is None


def test_a_gap_near_the_spread_counts_either_way():
    near = PLAIN + max(IDEA.std(), PLAIN.std()) + 0.005     # the gap lies 0.005 above the larger spread
    for wins in (True, False):
        assert _study(measured=(near, PLAIN)).judge(_report(near, PLAIN, wins)) is None
    strict = _study(measured=(near, PLAIN), near=0.001)
    assert strict.judge(_report(near, PLAIN, True)) is None
    assert strict.judge(_report(near, PLAIN, False)) == "verdict", "outside `near`, only one verdict is right"


def test_the_form_then_the_setting_speak_first():
    assert _study(form=lambda report: "form").judge(_report(wins=False)) == "form"
    assert _study(setting=lambda a, b: "setting").judge(_report(wins=False)) == "setting"
    assert _study(setting=lambda a, b: None).judge(_report()) is None


def test_better_is_higher_or_lower():
    with pytest.raises(ValueError, match="'higher' or 'lower'"):
        _study(better="smaller")
