"""An accuracy predictor that corrects the supernet's ranking with a few standalone results.

Inherited accuracy orders ordinary subnets poorly (their scores sit within the noise of one
another), while a standalone training is the truth but costs a training per subnet. NSGANetV2
and once-for-all bridge the two with a regressor fitted on a few real evaluations; here the
features are the inherited accuracy plus a compact arch encoding (log MACs, log params,
resolution, and per stage the depth, mean kernel size and mean expansion ratio) and the target
is the standalone validation accuracy of ``green-table`` rows (never the test accuracy: what
selects a subnet must not be what scores it). scikit-learn supplies the regressors: ridge
regression with its regularisation chosen by leave-one-out CV (the default: with a handful of
points the fewer assumptions the better), or a Gaussian process with an RBF plus noise kernel.

``green-search predictor.table=<table folder>`` makes the predicted accuracy the search's
accuracy objective; :class:`PredictedEvaluator` wraps the inherited-weight evaluator for that.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from search.hardware.cost import count
from supernet.arch import ArchConfig
from core.errors import GreenError
from core.jsontypes import JSONObject
from supernet.space import SearchSpace

KINDS = ("ridge", "gp")


class AccuracyPredictor:
    """Standalone accuracy of a subnet from its inherited accuracy and its encoding.

    Args:
        space: the search space the archs come from (the encoding follows its stages).
        num_classes, in_chans: to count MACs and params as the cost model does.
        kind: ``ridge`` (RidgeCV over a log grid, leave-one-out) or ``gp`` (Gaussian process).
        min_results: fewer standalone results than this is refused: the fit would be noise.
    """

    def __init__(self, space: SearchSpace, num_classes: int, in_chans: int, kind: str = "ridge",
                 min_results: int = 6):
        if kind not in KINDS:
            raise GreenError(f"unknown predictor kind {kind!r}; choose from {', '.join(KINDS)}")
        if min_results < 3:
            raise GreenError(f"predictor.min_results must be >= 3, got {min_results}")
        self.space, self.num_classes, self.in_chans = space, num_classes, in_chans
        self.kind, self.min_results = kind, int(min_results)
        self.model: Any = None
        self.n_fit = 0

    def features(self, arch: ArchConfig | str, inherited: float) -> list[float]:
        """Inherited accuracy, log MACs, log params, resolution and per-stage depth, mean kernel, mean expansion."""
        arch = self.space.validate(str(arch))
        params, macs = count(self.space, arch, self.num_classes, self.in_chans)
        out = [float(inherited), math.log(max(macs, 1)), math.log(max(params, 1)), float(arch.resolution)]
        for ks, es in zip(arch.kernel_sizes, arch.exp_ratios):
            out += [float(len(ks)), sum(ks) / len(ks), sum(es) / len(es)]
        return out

    def _estimator(self) -> Any:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.kind == "ridge":
            from sklearn.linear_model import RidgeCV

            return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        # the noise may fit near zero on few, clean results: a floor far below any accuracy noise, so sklearn
        # does not warn that the optimum sits on its default bound (1e-5)
        kernel = ConstantKernel(1.0) * RBF(length_scale=3.0) + WhiteKernel(1e-2, noise_level_bounds=(1e-10, 1e1))
        return make_pipeline(StandardScaler(), GaussianProcessRegressor(kernel, normalize_y=True, random_state=0))

    def require(self, n: int) -> None:
        """Refuse a fit on fewer than ``min_results`` standalone results (before anything is scored)."""
        if n < self.min_results:
            raise GreenError(f"the accuracy predictor needs at least {self.min_results} standalone results "
                             f"(predictor.min_results), got {n}")

    def fit(self, archs: Sequence[ArchConfig | str], inherited: Sequence[float],
            standalone: Sequence[float]) -> "AccuracyPredictor":
        """Fit on ``standalone`` accuracies of ``archs`` (with their ``inherited`` scores); refuses too few."""
        n = len(archs)
        if not n == len(inherited) == len(standalone):
            raise GreenError(f"predictor: {n} archs, {len(inherited)} inherited and {len(standalone)} standalone "
                             "accuracies")
        self.require(n)
        x = np.array([self.features(a, i) for a, i in zip(archs, inherited)])
        self.model = self._estimator().fit(x, np.asarray(standalone, dtype=float))
        self.n_fit = n
        return self

    def predict(self, arch: ArchConfig | str, inherited: float) -> float:
        if self.model is None:
            raise GreenError("the accuracy predictor is not fitted")
        return float(self.model.predict(np.array([self.features(arch, inherited)]))[0])

    def info(self) -> JSONObject:
        """What pareto.json records about the accuracy source (and a resume is checked against)."""
        return {"kind": self.kind, "n_fit": self.n_fit, "min_results": self.min_results}


class PredictedEvaluator:
    """An inherited-weight evaluator whose ``acc`` is the predictor's estimate; the inherited figure is kept
    as ``inherited_acc`` (recall stays the inherited one: the table has no per-class validation data)."""

    def __init__(self, inner: Callable[[ArchConfig], dict[str, float]], predictor: AccuracyPredictor):
        self.inner, self.predictor = inner, predictor
        self.val_images = getattr(inner, "val_images", None)

    def __call__(self, arch: ArchConfig) -> dict[str, float]:
        r = dict(self.inner(arch))
        r["inherited_acc"] = r["acc"]
        r["acc"] = self.predictor.predict(arch, r["acc"])
        return r

    def __getattr__(self, name: str) -> Any:  # extract, inference_seconds, ...: the inner evaluator's
        return getattr(self.inner, name)
