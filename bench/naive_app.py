"""The naive baseline for the batch benchmark: what a team writes first around a pickled
pipeline (JSON -> DataFrame -> predict_proba -> JSON), as a Starlette app. It validates
nothing, explains nothing and logs nothing: a floor for cost, not a peer in features."""

import json
import os
from pathlib import Path

import joblib
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_registry = Path(os.environ["MODEL_URI"])
_served = json.loads((_registry / "current.json").read_text())["version"]
pipeline = joblib.load(_registry / _served / "model.joblib")


async def live(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


async def predict(request: Request) -> Response:
    records = json.loads(await request.body())["records"]
    probabilities = pipeline.predict_proba(pd.DataFrame(records))[:, 1]
    answer = [{"probability": float(p), "positive": bool(p >= 0.5)} for p in probabilities]
    return Response(json.dumps({"predictions": answer}), media_type="application/json")


app = Starlette(routes=[Route("/live", live), Route("/predict", predict, methods=["POST"])])
