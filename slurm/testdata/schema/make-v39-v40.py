#!/usr/bin/env python3
"""Writes slurmdb-v0.0.39-jobs.json and slurmdb-v0.0.40-jobs.json.

No real v0.0.39/v0.0.40 answers were available, so these fixtures take the
real v0.0.38 answer of the testbed (../testbed/slurmdb-v0.0.38-jobs.json) and
reshape each record to the v0.0.39_job and v0.0.40_job schemas of Slurm
24.05's OpenAPI document (slurm-fixtures-upstream/24.05/openapi-v3.json):

v0.0.39: time.limit, array.task_id and het.job_offset become
  {"set","infinite","number"}; step.id becomes
  {"job_id","step_het_component","step_id"}; tres names "" instead of null.
v0.0.40: additionally state.current, exit_code.status and step state become
  arrays; exit_code.return_code and signal.id become {"set",...} objects;
  step.time.start/end become {"set",...}; step.id is "JOBID.STEP".
Run it from this directory; the output is committed.
"""
import copy, json

def num(v, infinite=False):
    if v is None:
        return {"set": False, "infinite": infinite, "number": 0}
    return {"set": True, "infinite": False, "number": v}

def tres(lst):
    return [{**t, "name": t["name"] or "", "count": -2 if t["count"] is None else t["count"]} for t in lst]

def v39(j):
    j = copy.deepcopy(j)
    j["time"]["limit"] = num(j["time"]["limit"], infinite=j["time"]["limit"] is None)
    j["array"]["task_id"] = num(j["array"]["task_id"])
    j["het"]["job_offset"] = num(j["het"]["job_offset"])
    for k in ("allocated", "requested"):
        j["tres"][k] = tres(j["tres"][k])
    for s in j["steps"]:
        s["step"]["id"] = {"job_id": j["job_id"], "step_het_component": None, "step_id": str(s["step"]["id"])}
    j["association"].pop("id", None)
    return j

def exit40(e):
    out = {"status": [e["status"]], "return_code": num(e.get("return_code")),
           "signal": {"id": num(None), "name": ""}}
    if "signal" in e:
        out["signal"] = {"id": num(e["signal"]["signal_id"]), "name": e["signal"]["name"]}
    return out

def v40(j):
    j = v39(j)
    j["state"]["current"] = [j["state"]["current"]]
    j["exit_code"] = exit40(j["exit_code"])
    j["derived_exit_code"] = exit40(j["derived_exit_code"])
    j["association"]["id"] = 0
    for s in j["steps"]:
        s["state"] = [s["state"]]
        s["exit_code"] = exit40(s["exit_code"])
        s["time"]["start"] = num(s["time"]["start"])
        s["time"]["end"] = num(s["time"]["end"])
        s["step"]["id"] = "%d.%s" % (j["job_id"], s["step"]["id"]["step_id"])
    return j

src = json.load(open("../testbed/slurmdb-v0.0.38-jobs.json"))
for name, fn in (("v0.0.39", v39), ("v0.0.40", v40)):
    out = {
        "meta": {"tally_fixture": "Hand-made: the testbed's real v0.0.38 answer reshaped to the "
                                  + name + "_job schema of Slurm 24.05's openapi-v3.json; see make-v39-v40.py."},
        "errors": [], "warnings": [],
        "jobs": [fn(j) for j in src["jobs"]],
    }
    json.dump(out, open("slurmdb-%s-jobs.json" % name, "w"), indent=1)
