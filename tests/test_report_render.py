"""The report reads at a glance: every point labelled inside the frame without overlapping labels, discrete
ticks on the choice charts, units on pareto.png, and (where a browser is installed) the HTML renders."""
import shutil
import subprocess

import pytest

from search.pipeline.charts import chart, effects_chart, labels, labels_inside


def _summary(n_base=6):
    def m(kind, name, acc, lat):
        return {"kind": kind, "name": name, "test_acc": acc, "test_acc_std": 0.01, "latency_ms": lat,
                "energy_mj_per_image": lat / 10, "params": 1e5 * lat, "total_train_kwh": 1e-3 * lat}
    # clustered on purpose: labels placed naively would overlap and run past the frame
    winners = [m("winner", f"r24_w0.5-k3e2_arch{i}", 0.30 + 0.002 * i, 2.0 + 0.05 * i) for i in range(3)]
    scratch = [m("scratch", w["name"], w["test_acc"] + 0.05, w["latency_ms"]) for w in winners]
    base = [m("baseline", f"mobilenetv3_small_05_{i}", 0.31 + 0.001 * i, 2.1 + 0.03 * i) for i in range(n_base)]
    return {"models": {"finetune": winners, "scratch": scratch, "baselines": base}, "baselines": base, "seeds": 3,
            "dominated": {"beyond_noise": {"latency_ms": []}}}


def test_every_point_is_labelled_inside_the_frame_without_overlap():
    figs = []
    s = _summary()
    png = chart(s, "latency_ms", "measured latency (ms per batch of 1)", fig_out=figs)
    assert png.startswith(b"\x89PNG")
    fig = figs[0]
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(labels(s).values())
    assert labels_inside(fig) and ax.get_xlabel() == "measured latency (ms per batch of 1)"
    renderer = fig.canvas.get_renderer()  # labels_inside gave the closed figure an Agg canvas
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    overlaps = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert overlaps <= 1  # adjustText's repulsion: at most a near-touching pair among 12 clustered labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "baselines" in legend and not any("not dominated" in t for t in legend)  # none is dominated


@pytest.mark.parametrize("xs", [(2e-4, 7e-4), (3e3, 3e6), (0.9, 1.1), (1e-6, 0.1), (3.0, 40.0)])
def test_log_axis_tick_labels_are_plain_and_never_collide(xs):
    """Log axes (params, training kWh, table latencies) label 1-9, 1-2-5 or 1 per decade as the span asks: at least
    two visible labels, no label drawn on a minor tick, no two labels overlapping."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from search.evolution.plots import log_axis

    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    ax.scatter(xs, [1, 2])
    log_axis(ax)
    ax.margins(0.12)
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert len(shown) >= 2 and not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    assert all("mathdefault" not in t.get_text() for t in shown)
    boxes = sorted((t.get_window_extent() for t in shown), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), [t.get_text() for t in shown]
    plt.close(fig)


def test_choice_charts_have_the_discrete_choices_as_ticks():
    import matplotlib.pyplot as plt

    effects = [{"stage": s, "choice": c, "value": v, "n": 3, "acc": 0.5, "energy_mj": 1.0}
               for s in (0, 1) for c, vs in (("depth", (1, 2, 3)), ("kernel", (3, 5, 7)), ("expand", (2, 3, 4, 6)))
               for v in vs]
    shown = []
    orig = plt.Figure.savefig

    def keep(self, *a, **k):
        shown.append([list(ax.get_xticks()) for ax in self.axes])
        return orig(self, *a, **k)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Figure, "savefig", keep)
        effects_chart(effects)
    assert shown[0][:3] == [[1, 2, 3], [3, 5, 7], [2, 3, 4, 6]]


def test_pareto_axes_have_units():
    from search.objectives import label as axis_label

    from search.objectives.tables import TableInfo, describe

    assert axis_label("energy_mj") == "predicted energy (mJ per call)"  # the batch is the table's: said with it
    own = TableInfo(None, "lut.json", "torch", "cpu", 4, (1, 4), "codecarbon-estimate", 20.0)
    assert describe("energy_mj", (own,)) == ("predicted energy (mJ per call) on torch (cpu), batch 4; codecarbon-"
                                             "estimate: no energy counter, latency x one power figure of 20 W")
    assert axis_label("recall:cat") == "recall of class cat" and axis_label("acc") == "inherited val accuracy"


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell")


def test_a_report_renders_in_a_headless_browser(tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no headless Chromium installed")
    import numpy as np
    from PIL import Image

    from search.pipeline.report import to_html

    png = chart(_summary(), "latency_ms", "latency (ms)")
    html = to_html("# Report\n\n![chart](report_latency_ms.png)\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n",
                   {"latency_ms": "report_latency_ms.png"}, {"latency_ms": png})
    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    page.write_text(html)
    r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                        "--window-size=1200,900", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), r.stderr[-800:]
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.std() > 10  # the chart and the table were drawn, not a blank page


@pytest.mark.parametrize("seeds", [1, 2])
def test_the_report_writes_values_as_prose_and_no_std_of_one_seed(tmp_path, write_run, seeds):
    from search.pipeline.report import chart_labels, markdown
    from search.pipeline.summary import summarise

    s = summarise(write_run(tmp_path, seeds=seeds))
    md = markdown(s, [], {c: f"report_{c}.png" for c, _ in chart_labels(s)}, tmp_path)
    intro = md.split("## This run")[1].split("## ")[0]  # the run's description, after the charts
    assert "(distilled from it) and are fine-tuned for 3 epochs after a supernet of 6 epochs; twins and baselines " \
           "are trained from scratch for 3 epochs." in intro
    assert "[" not in intro  # no Python list in a sentence ([True], [3])
    (winner,) = [r for r in md.splitlines() if r.startswith("| W1 |")]
    std = winner.split(" | ")[4]
    if seeds == 1:
        assert std == "n/a (1 seed)" and "one seed: no standard deviation" in intro
    else:
        assert std == "0.007071" and "mean over seeds, with the standard deviation" in intro


def test_the_energy_ledger_ends_with_its_total(tmp_path, write_run):
    from search.pipeline.report import chart_labels, markdown
    from search.pipeline.summary import summarise

    s = summarise(write_run(tmp_path))
    md = markdown(s, [], {c: f"report_{c}.png" for c, _ in chart_labels(s)}, tmp_path)
    ledger = md.split("## Energy ledger")[1].split("## ")[0]
    rows = [r.strip("| ").split(" | ") for r in ledger.splitlines() if r.startswith("| ") and "---" not in r][1:]
    *stages, total = rows
    assert stages and total[0] == "**total**"
    for col in (1, 2, 3):  # kWh, g CO2eq, seconds: the sum of the stages' (each printed to 4 significant digits)
        assert float(total[col]) == pytest.approx(sum(float(r[col]) for r in stages), rel=2e-3)
    assert set(total[4].split(", ")) == {x for r in stages for x in r[4].split(", ")}


def test_choice_effects_are_adjusted_for_the_choices_they_come_with(tmp_path):
    """A history where deep stage-0 subnets mostly have kernel 5 and accuracy depends on depth alone: the plain mean
    of kernel 5 is higher (confounded), the adjusted effect of the kernel is nil and that of depth is kept."""
    from search.pipeline.charts import choice_effects

    rows = []
    for depth, k, count in ((1, 3, 10), (1, 5, 2), (2, 3, 2), (2, 5, 10)):
        arch = "r16_" + "-".join([f"k{k}e3"] * depth) + "_k3e2"
        acc = 0.5 + 0.2 * (depth == 2)
        rows += [f"{arch},{acc},{1.0 + depth}"] * count
    (tmp_path / "history.csv").write_text("arch,acc,energy_mj\n" + "\n".join(rows) + "\n")
    e = {(x["stage"], x["choice"], x["value"]): x for x in choice_effects(tmp_path / "history.csv")}
    k3, k5, d1, d2 = e[(0, "kernel", 3)], e[(0, "kernel", 5)], e[(0, "depth", 1)], e[(0, "depth", 2)]
    assert k5["acc"] - k3["acc"] > 0.1  # the plain means: kernel 5 looks better only for the depth it came with
    assert abs(k5["acc_adjusted"] - k3["acc_adjusted"]) < 0.01
    assert d2["acc_adjusted"] - d1["acc_adjusted"] == pytest.approx(0.2, abs=0.01)
    assert d2["energy_adjusted"] - d1["energy_adjusted"] == pytest.approx(1.0, abs=0.05)
    assert k3["n"] == 10 * 1 + 2 * 2 and d2["n"] == 12  # blocks counted once each, subnets once per depth
