"""After a 2-epoch calibration run of green-train: seconds per epoch, and how many epochs fit.

    python epochs_fit.py RUN_DIR CALIB_WALL_S SECONDS_LEFT E_MIN E_MAX  -> prints E, writes RUN_DIR/../calibA.json
Epoch time = difference of the wall times of the two val/acc_mean events (TensorBoard); a full
run of E epochs is taken to cost CALIB_WALL_S + (E - 2) * epoch.
"""
import json
import math
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run, wall, left, e_min, e_max = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
acc = EventAccumulator(str(run / "tb")).Reload()
ev = acc.Scalars("val/acc_mean")
t_ep = ev[-1].wall_time - ev[-2].wall_time
fit = 2 + math.floor((left - wall) / t_ep)
e = max(e_min, min(e_max, fit))
energy = json.loads((run / "energy_train.json").read_text())
info = {"epoch_s": t_ep, "calib_wall_s": wall, "calib_fit_s": energy["seconds"], "seconds_left": left,
        "E_fit": fit, "E": e, "val_acc_mean_calib": [x.value for x in ev]}
(run.parent / "calibA.json").write_text(json.dumps(info, indent=1))
print(f"calibration: {t_ep:.2f}s/epoch, calib wall {wall:.1f}s (fit {energy['seconds']:.1f}s), "
      f"{left:.0f}s left -> E={e} (fit {fit})", file=sys.stderr)
print(e)
