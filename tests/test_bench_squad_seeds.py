"""The seed summary of bench/squad_quality.py: per-seed table and means."""

import json
import os

import helpers
from helpers import read_json

SCRIPT = os.path.join(helpers.REPO_ROOT, "bench", "squad_quality.py")


def _write(path, em, f1):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump({"exact_match": em, "f1": f1, "total": 10, "seconds": 1.0}, f)


def test_seed_summary_judges_the_target_on_means(tmp_path):
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  _write(os.path.join(a, "ours.json"), 50.0, 64.0)
  _write(os.path.join(a, "hf.json"), 52.0, 66.0)
  _write(os.path.join(b, "ours.json"), 52.0, 66.0)
  _write(os.path.join(b, "hf.json"), 51.0, 65.2)
  results = str(tmp_path / "results")
  helpers.run_script(["seeds", "--seed_dirs=1:%s,2:%s" % (a, b),
                      "--results_dir=" + results], SCRIPT, check=True)
  summary = read_json(os.path.join(results, "squad_quality_seeds.json"))
  assert summary["ours"]["seeds"] == summary["hf"]["seeds"] == [1, 2]
  assert abs(summary["ours"]["f1_mean"] - 65.0) < 1e-9
  assert abs(summary["hf"]["f1_mean"] - 65.6) < 1e-9
  assert abs(summary["exact_match_mean_diff"] - (-0.5)) < 1e-9
  assert abs(summary["hf"]["exact_match_spread"] - 1.0) < 1e-9
  assert summary["target_met_on_means"] is True
  table = open(os.path.join(results, "squad_quality_seeds.md"),
               encoding="utf-8").read()
  assert "| mean | 51.00 | 65.00 | 51.50 | 65.60 |" in table

  # A side that misses by more than 1.0 on the mean fails the target; a seed
  # with only one side's result is shown with dashes and left out of that
  # side's mean.
  _write(os.path.join(b, "hf.json"), 55.0, 68.0)
  c = str(tmp_path / "c")
  _write(os.path.join(c, "hf.json"), 56.0, 70.0)
  helpers.run_script(["seeds", "--seed_dirs=1:%s,2:%s,3:%s" % (a, b, c),
                      "--results_dir=" + results], SCRIPT, check=True)
  summary = read_json(os.path.join(results, "squad_quality_seeds.json"))
  assert summary["ours"]["seeds"] == [1, 2]
  assert summary["hf"]["seeds"] == [1, 2, 3]
  assert summary["target_met_on_means"] is False
  table = open(os.path.join(results, "squad_quality_seeds.md"),
               encoding="utf-8").read()
  assert "| 3 | - | - | 56.00 | 70.00 |" in table


def test_seed_summary_rejects_a_malformed_list(tmp_path):
  proc = helpers.run_script(["seeds", "--seed_dirs=runs/a",
                             "--results_dir=" + str(tmp_path)], SCRIPT)
  assert proc.returncode != 0
  assert "SEED:WORK_DIR" in proc.stderr
  assert "Traceback" not in proc.stderr
