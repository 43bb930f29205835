"""Extract SAS PROC MIXED results from openpharma/mmrm's design/SAS/*.txt into JSON.

Usage: python tests/reference/sas_mmrm_extract.py <git dir of openpharma/mmrm>
Writes tests/reference/expected_sas/sas_mmrm.json: per SAS output, the mixedpy model (formula,
residual SPEC, REML/ML, weights), -2 (Res) Log Likelihood of the last iteration (8 decimals), the
covariance parameter estimates and the fixed-effect solution (estimate, SE, DF).
SAS codes the last level as reference where the programs say ref=...; the formulas below use
C(x, Treatment('level')) to match.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

FULL = "FEV1 ~ C(RACE, Treatment('Asian')) + C(SEX, Treatment('Male')) + ARMCD * C(AVISIT, Treatment('{ref}'))"
CASES = {
    "sas_log_reml": (FULL.format(ref="VIS1"), "us(AVISIT | USUBJID)", True, None),
    "sas_log": (FULL.format(ref="VIS1"), "us(AVISIT | USUBJID)", False, None),
    "sas_log_simple_reml": ("FEV1 ~ 1", "us(AVISIT | USUBJID)", True, None),
    "sas_log_simple": ("FEV1 ~ 1", "us(AVISIT | USUBJID)", False, None),
    "sas_weighted": (FULL.format(ref="VIS4"), "us(AVISIT | USUBJID)", True, "WEIGHT"),
    "sas_coef_ci_reml_ar1": ("FEV1 ~ ARMCD + C(SEX, Treatment('Male'))", "ar1(AVISIT | USUBJID)", True, None),
    "sas_coef_ci_ml_ar1": ("FEV1 ~ ARMCD + C(SEX, Treatment('Male'))", "ar1(AVISIT | USUBJID)", False, None),
    "sas_coef_ci_reml_un": ("FEV1 ~ ARMCD + C(SEX, Treatment('Male'))", "us(AVISIT | USUBJID)", True, None),
    "sas_coef_ci_ml_un": ("FEV1 ~ ARMCD + C(SEX, Treatment('Male'))", "us(AVISIT | USUBJID)", False, None),
    "sas_sp_exp_reml": ("FEV1 ~ 1", "sp_exp(VISITN | USUBJID)", True, None),
    "sas_sp_exp_ml": ("FEV1 ~ 1", "sp_exp(VISITN | USUBJID)", False, None),
    "sas_sp_exp2_reml": ("FEV1 ~ 1", "sp_exp(VISITN, VISITN2 | USUBJID)", True, None),
    "sas_sp_exp2_ml": ("FEV1 ~ 1", "sp_exp(VISITN, VISITN2 | USUBJID)", False, None),
}
for st, sas in [("ar1", "ar1"), ("cs", "cs"), ("csh", "csh"), ("ar1h", "ar1h"), ("toeph", "toeph"),
                ("adh", "adh")]:
    for crit in ("reml", "ml"):
        CASES[f"sas_{sas}_{crit}"] = ("FEV1 ~ 1", f"{st}(AVISIT | USUBJID)", crit == "reml", None)
for st in ("ar1", "ar1h", "cs", "csh", "toeph", "adh"):
    for crit in ("reml", "ml"):
        CASES[f"sas_group_{st}_{crit}"] = ("FEV1 ~ 1", f"{st}(AVISIT | ARMCD / USUBJID)", crit == "reml", None)


def parse(text: str) -> dict:
    last = None
    lines = text.splitlines()
    in_hist = False
    for ln in lines:
        if "Iteration History" in ln:
            in_hist = True
        if in_hist and re.match(r"^\s+\d+\s+\d+\s+[0-9.]+", ln):
            last = float(ln.split()[2])
        if "Convergence criteria" in ln:
            in_hist = False
    cov, fixed = [], []
    mode = None
    for ln in lines:
        if "Covariance Parameter Estimates" in ln:
            mode = "cov"
            continue
        if "Solution for Fixed Effects" in ln:
            mode = "fix"
            continue
        if mode and ("Fit Statistics" in ln or "Type 3 Tests" in ln or "Least Squares" in ln
                     or "Null Model" in ln):
            mode = None
        if mode == "cov":
            m = re.match(r"^\s+(\S.*?)\s{2,}.*?(-?[0-9.]+)\s+0\.05\s+\S+\s+\S+\s*$", ln)
            if m and not ln.strip().startswith("Cov Parm"):
                cov.append({"row": ln.strip(), "estimate": float(m.group(2))})
        if mode == "fix":
            m = re.match(r"^\s+(\S.*?)\s+(-?[0-9.]+)\s+([0-9.]+)\s+(\d+)\s+(-?[0-9.]+)\s+\S+\s*$", ln)
            if m:
                fixed.append({"effect": m.group(1).strip(), "estimate": float(m.group(2)),
                              "se": float(m.group(3)), "df": int(m.group(4))})
    return {"m2ll": last, "cov": cov, "fixed": fixed}


def main(gitdir: str) -> None:
    out = {}
    for name, (formula, residual, reml, weights) in CASES.items():
        text = subprocess.run(["git", f"--git-dir={gitdir}", "show", f"HEAD:design/SAS/{name}.txt"],
                              capture_output=True, text=True, check=True).stdout
        out[name] = {"formula": formula, "residual": residual, "reml": reml, "weights": weights, **parse(text)}
    path = Path(__file__).parent / "expected_sas" / "sas_mmrm.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"{len(out)} cases -> {path}")


if __name__ == "__main__":
    main(sys.argv[1])
