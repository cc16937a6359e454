"""A reference two-stage linear Q-learning on the SMART export.

Stage 2 is fitted on the re-randomised participants only: ``Y ~ H2 + A2 + A2:T2`` by ordinary
least squares, where ``H2`` are main-effect columns, ``T2`` the tailoring columns and ``A2`` the
stage-2 decision coded by :attr:`QLearning.stage2_decision` (the tactic by default). The
pseudo-outcome is ``Y`` for participants who were not re-randomised (responders). For the
re-randomised it is, by default (``pseudo_outcome="regret"``), the observed outcome plus the
estimated regret ``Y + Q2(h, a_opt) - Q2(h, a_obs)``, as in dWOLS / G-estimation (Wallace &
Moodie 2015; DTRreg): only the stage-2 *contrast* must be correctly specified, and stage-1
effects that the stage-2 main-effect model leaves out stay in the pseudo-outcome. The classic
``pseudo_outcome="max"`` uses ``max_a Q2(h, a)`` and needs ``H2`` to carry A1 and its
interactions. Stage 1 then fits
``Ytilde ~ H1 + A1 + A1:T1`` over everyone with a known pseudo-outcome, and the recommended
first-stage arm maximises ``Q1`` over each participant's eligible arms (``p1`` encodes how many;
the feasible set comes from the ``eligible`` argument).

This is a transparent baseline for cross-checking regime software (DynTxRegime ``qLearn``,
DTRreg ``qlearn``), not a replacement: it has no non-regular inference (m-out-of-n bootstrap or
adaptive CIs are needed for stage-1 confidence intervals; Laber et al. 2014).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm


@dataclass
class StageFit:
    """One stage's OLS fit: coefficient table and the design's column order."""

    model: sm.regression.linear_model.RegressionResultsWrapper
    levels: list[str]
    main: list[str]
    tailoring: list[str]

    @property
    def coefficients(self) -> pd.DataFrame:
        """Estimate, robust (HC3) standard error and 95 % CI of every coefficient."""
        robust = self.model.get_robustcov_results(cov_type="HC3")
        ci = robust.conf_int()
        return pd.DataFrame({"estimate": robust.params, "se_hc3": robust.bse,
                             "ci_low": ci[:, 0], "ci_high": ci[:, 1]},
                            index=self.model.model.exog_names)

    def q_values(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predicted Q for every decision level (columns) for every row of ``frame``."""
        return pd.DataFrame({level: self.model.predict(_design(frame, level, self))
                             for level in self.levels}, index=frame.index)


@dataclass
class QLearning:
    """Two-stage linear Q-learning with feasible decision sets.

    Parameters
    ----------
    x1_main, x1_tailoring : list of str
        Stage-1 main-effect and tailoring (interaction) columns of the export.
    x2_main, x2_tailoring : list of str
        Stage-2 main-effect and tailoring columns (typically X1 and X2 columns).
    stage2_decision : str
        Column coding the stage-2 decision of re-randomised participants (``A2_tactic`` or
        ``A2``).
    pseudo_outcome : {"regret", "max"}
        Stage-1 pseudo-outcome of the re-randomised (see the module docstring).
    """

    x1_main: list[str]
    x1_tailoring: list[str]
    x2_main: list[str]
    x2_tailoring: list[str]
    stage2_decision: str = "A2_tactic"
    pseudo_outcome: str = "regret"
    stage1_: StageFit | None = field(default=None, init=False)
    stage2_: StageFit | None = field(default=None, init=False)

    def fit(self, frame: pd.DataFrame) -> QLearning:
        """Fit stage 2 on the re-randomised, then stage 1 on the pseudo-outcome."""
        needed = {"A1", "Y", "A2", *self.x1_main, *self.x1_tailoring, *self.x2_main,
                  *self.x2_tailoring, self.stage2_decision}
        missing = sorted(needed - set(frame.columns))
        if missing:
            raise KeyError(f"columns not in the export: {missing}")
        if self.pseudo_outcome not in ("regret", "max"):
            raise ValueError(f"pseudo_outcome must be 'regret' or 'max', got "
                             f"{self.pseudo_outcome!r}")
        rerandomized = frame["A2"].notna() & frame["Y"].notna()
        stage2 = frame[rerandomized].dropna(subset=[*self.x2_main, *self.x2_tailoring])
        self.stage2_ = _fit_stage(stage2, stage2[self.stage2_decision], self.x2_main,
                                  self.x2_tailoring)
        pseudo = frame["Y"].where(frame["A2"].isna())
        q2 = self.stage2_.q_values(frame.loc[stage2.index])
        if self.pseudo_outcome == "max":
            pseudo.loc[stage2.index] = q2.max(axis=1)
        else:
            observed = stage2[self.stage2_decision].astype(str)
            q_obs = pd.Series([q2.at[i, a] for i, a in observed.items()], index=stage2.index)
            pseudo.loc[stage2.index] = stage2["Y"] + q2.max(axis=1) - q_obs
        stage1 = frame.assign(Y_tilde=pseudo).dropna(subset=["Y_tilde", "A1", *self.x1_main,
                                                             *self.x1_tailoring])
        self.stage1_ = _fit_stage(stage1.rename(columns={"Y_tilde": "_y"}), stage1["A1"],
                                  self.x1_main, self.x1_tailoring, outcome="_y")
        return self

    def recommend(self, frame: pd.DataFrame, eligible: pd.Series | None = None) -> pd.DataFrame:
        """Recommended stage-1 arm (among eligible arms) and stage-2 decision per participant.

        Parameters
        ----------
        eligible : Series, optional
            Comma-separated eligible arms per row (the outcomes table's ``eligible_arms``);
            every fitted arm is feasible when omitted.
        """
        if self.stage1_ is None or self.stage2_ is None:
            raise RuntimeError("call fit() first")
        q1 = self.stage1_.q_values(frame)
        if eligible is not None:
            feasible = pd.DataFrame({a: eligible.str.split(",").map(lambda arms, a=a: a in arms)
                                     for a in q1.columns}, index=frame.index)
            q1 = q1.where(feasible)
        q2 = self.stage2_.q_values(frame)
        return pd.DataFrame({"A1_recommended": q1.idxmax(axis=1), "Q1_max": q1.max(axis=1),
                             "A2_recommended": q2.idxmax(axis=1), "Q2_max": q2.max(axis=1)},
                            index=frame.index)


def _fit_stage(frame: pd.DataFrame, decision: pd.Series, main: list[str], tailoring: list[str],
               outcome: str = "Y") -> StageFit:
    levels = sorted(decision.dropna().astype(str).unique())
    if len(levels) < 2:
        raise ValueError(f"need at least two decision levels, found {levels}")
    fit = StageFit(model=None, levels=levels, main=main, tailoring=tailoring)  # type: ignore[arg-type]
    decision = decision.astype(str)
    exog = pd.concat([_design(frame[decision == level], level, fit) for level in levels])
    exog = exog.loc[frame.index]
    fit.model = sm.OLS(frame[outcome].astype(float).to_numpy(), exog).fit()
    return fit


def _design(frame: pd.DataFrame, level: str, fit: StageFit) -> pd.DataFrame:
    """Design rows for ``frame`` as if every row received decision ``level``."""
    x = pd.DataFrame({"const": np.ones(len(frame))}, index=frame.index)
    for column in fit.main:
        x[column] = frame[column].astype(float)
    for other in fit.levels[1:]:
        on = float(level == other)
        x[f"A={other}"] = on
        for column in fit.tailoring:
            x[f"A={other}:{column}"] = on * frame[column].astype(float)
    return x
