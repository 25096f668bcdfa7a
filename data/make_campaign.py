"""Writes `campaign.csv`: a synthetic term-deposit marketing campaign (the second shipped
example), the same bytes on every run: `python data/make_campaign.py`.

The positive class is good news: the customer subscribed. The columns mix numbers and
categories, `pdays` holds a sentinel (-1: never contacted before), some cells are blank,
`balance` can be negative (an account balance: a feature, not a campaign value), and
`margin` is what a subscription brings the bank (never below 0: the campaign value).
The outcome depends on the columns the way such campaigns are usually described (past
success, recent contact, contact channel, age, balance), with noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 9_000
SEED = 20261130
JOBS = ["admin", "blue-collar", "entrepreneur", "management", "retired", "services", "student", "technician"]
EDUCATION = ["primary", "secondary", "tertiary"]


def campaign(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    job = rng.choice(JOBS, rows, p=[0.14, 0.2, 0.04, 0.2, 0.06, 0.1, 0.03, 0.23])
    age = np.where(job == "student", rng.integers(18, 30, rows), rng.integers(21, 88, rows))
    age = np.where(job == "retired", np.maximum(age, rng.integers(58, 90, rows)), age)
    education = rng.choice(EDUCATION, rows, p=[0.15, 0.5, 0.35])
    marital = rng.choice(["married", "single", "divorced"], rows, p=[0.6, 0.28, 0.12])
    balance = np.round(rng.lognormal(6.8, 1.2, rows) - 600, 0)  # some accounts are overdrawn
    contact = rng.choice(["cellular", "telephone", "unknown"], rows, p=[0.65, 0.07, 0.28])
    calls = 1 + rng.poisson(1.6, rows)
    contacted_before = rng.random(rows) < 0.22
    pdays = np.where(contacted_before, rng.integers(1, 400, rows), -1)
    previous = np.where(contacted_before, 1 + rng.poisson(1.5, rows), 0)
    outcome_before = np.where(
        contacted_before, rng.choice(["success", "failure", "other"], rows, p=[0.3, 0.55, 0.15]), "nonexistent"
    )
    recent = contacted_before & (pdays <= 60)
    logit = (
        -3.0
        + 2.4 * (outcome_before == "success")
        + 1.3 * recent  # a recent earlier contact matters; an old one hardly does
        + 0.9 * ((job == "student") | (job == "retired"))
        + 0.4 * (education == "tertiary")
        - 1.1 * (contact == "unknown")
        - 0.15 * (calls - 1)
        + 0.9 * (balance > 1500)  # a threshold, not a slope
        + 1.2 * ((age < 25) | (age > 62))  # the young and the old subscribe: a U, not a line
        + rng.normal(0, 0.4, rows)
    )
    subscribed = rng.random(rows) < 1 / (1 + np.exp(-logit))
    margin = np.round(rng.gamma(2.5, 40.0, rows) + 0.02 * np.clip(balance, 0, None), 2)
    frame = pd.DataFrame(
        {
            "client_id": [f"C{i:06d}" for i in range(rows)],
            "age": age,
            "occupation": job,
            "marital": marital,
            "education": education,
            "balance": balance.astype(int),
            "contact": contact,
            "campaign": calls,
            "pdays": pdays,
            "previous": previous,
            "poutcome": outcome_before,
            "margin": margin,
            "subscribed": np.where(subscribed, "yes", "no"),
        }
    )
    frame["education"] = frame["education"].astype(object)
    frame.loc[rng.choice(rows, rows // 25, replace=False), "education"] = ""  # unknown in the bank's records
    return frame


if __name__ == "__main__":
    target = Path(__file__).with_name("campaign.csv")
    campaign().to_csv(target, index=False, lineterminator="\n")
    print(f"wrote {target.name}")
