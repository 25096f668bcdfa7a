"""The OpenAPI 3.1 document of the REST API; the record schema follows features_order.json.

It describes exactly what the API accepts (schemathesis checks that in CI): numbers
within the hard bounds, text for categories (an enum when unknown categories are
refused; any text, with the known ones listed, when they are accepted with a warning).
"""

from __future__ import annotations

from typing import Any

from lib.api.common import MAX_PAGE
from lib.api.openapi_schemas import (
    JOB,
    JOB_ID_PATTERN,
    PROMOTE_BODY,
    SWITCH_BODY,
    SYSTEM_METRICS,
    VERSION_PATTERN,
    components,
    error_responses,
    json_content,
    path_parameter,
    prediction_schema,
    record_schema,
)
from lib.model.schema import FeatureSchema
from lib.monitoring.live import DEFAULT_LIVE_WINDOW, LIVE_WINDOWS
from lib.monitoring.store import WINDOWS


def document(schema: FeatureSchema | None, max_batch: int, version: str | None) -> dict[str, Any]:
    """The whole document; without a model, /predict takes any object (and answers 503)."""
    record = record_schema(schema) if schema is not None else {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Prediction dashboard API",
            "version": version or "no model loaded",
            "description": "Served by the same process as the Streamlit UI. Every error is JSON "
            "{error, details}. The /predict record schema follows the served model.",
        },
        "paths": {
            **_health_paths(),
            **_predict_paths(record, max_batch, _example_record(schema)),
            **_training_paths(),
            **_outcome_paths(schema),
            **_model_paths(),
            **_metrics_paths(),
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": json_content({"type": "object"})}}
            },
        },
        "components": components(),
    }


def _health_paths() -> dict[str, Any]:
    return {
        "/health": {
            "get": {
                "summary": "Service state: ok; degraded (serving, but the monitoring store cannot be written or "
                "the bundle has no KPIs; `reason` says which); 503 unavailable when no model can be loaded",
                "responses": {
                    "200": json_content({"$ref": "#/components/schemas/Health"}),
                    **{"503": json_content({"$ref": "#/components/schemas/Health"}, "No model loaded")},
                },
            }
        },
        "/health/live": {
            "get": {"summary": "The process answers", "responses": {"200": json_content({"type": "object"})}}
        },
        "/health/ready": {
            "get": {
                "summary": "Model loaded and a smoke prediction passes",
                "responses": {"200": json_content({"type": "object"}), **error_responses(503)},
            }
        },
    }


def _example_record(schema: FeatureSchema | None) -> dict[str, Any] | None:
    """Every feature at its default: what /docs fills in for "try it out"."""
    return None if schema is None else {"record": {spec.name: spec.default for spec in schema.features}}


def _predict_paths(record: dict[str, Any], max_batch: int, example: dict[str, Any] | None) -> dict[str, Any]:
    prediction = prediction_schema()
    return {
        "/predict": {
            "post": {
                "summary": "Score one record or many",
                "parameters": [
                    {
                        "name": "explain",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean", "default": True},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "required": ["record"],
                                        "properties": {"record": record},
                                        "additionalProperties": False,
                                    },
                                    {
                                        "type": "object",
                                        "required": ["records"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "records": {
                                                "type": "array",
                                                "items": record,
                                                "minItems": 1,
                                                "maxItems": max_batch,
                                            }
                                        },
                                    },
                                ]
                            },
                            **({"example": example} if example is not None else {}),
                        }
                    },
                },
                "responses": {
                    "200": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "prediction": prediction,
                                "predictions": {"type": "array", "items": prediction},
                                "model_version": {"type": "string"},
                                "count": {"type": "integer"},
                            },
                        }
                    ),
                    **error_responses(400, 413, 415, 422, 503),
                },
            }
        },
    }


def _training_paths() -> dict[str, Any]:
    return {
        "/train": {
            "post": {
                "summary": "Start a retraining job (admin): on the bundled dataset (no body, or "
                '{"data": "bundled"}), on the bundled dataset with the recorded outcomes ({"data": '
                '"bundled+outcomes"}: the newest held out, and the gate compares both models on them too), or on a '
                "CSV sent as text/csv; 409 while another job runs",
                "security": [{"bearer": []}],
                "parameters": [{"name": "name", "in": "query", "required": False, "schema": {"type": "string"}}],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"data": {"enum": ["bundled", "bundled+outcomes"]}},
                                "additionalProperties": False,
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "202": json_content(JOB, "The job started; Location: /train/{id}"),
                    **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
            }
        },
        "/train/{job_id}": {
            "get": {
                "summary": "A retraining job: state, progress, step, log tail, result (admin)",
                "security": [{"bearer": []}],
                "parameters": [path_parameter("job_id", JOB_ID_PATTERN)],
                "responses": {"200": json_content(JOB), **error_responses(400, 401, 403, 404, 429)},
            },
            "delete": {
                "summary": "Cancel a queued or running job (admin); what it wrote stays unlisted",
                "security": [{"bearer": []}],
                "parameters": [path_parameter("job_id", JOB_ID_PATTERN)],
                "responses": {
                    "200": json_content(JOB, "Cancelled: the job's process is gone"),
                    "202": json_content(JOB, "Cancelling: the job ends before training or promoting"),
                    **error_responses(400, 401, 403, 404, 409, 429),
                },
            },
        },
    }


def _outcome_paths(schema: FeatureSchema | None) -> dict[str, Any]:
    id_columns = list(schema.id_columns) if schema else []
    labels = [schema.positive_label, schema.negative_label] if schema else []
    row = {
        "type": "object",
        "properties": {
            "prediction_id": {"type": "string", "pattern": "^p[0-9a-f]{16}$"},
            **{name: {"type": ["string", "number"]} for name in id_columns},
            "outcome": {"oneOf": [{"enum": labels}, {"type": "boolean"}, {"enum": [0, 1]}]},
            "observed_at": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
        },
        "required": ["outcome"],
    }
    report = {
        "type": "object",
        "properties": {
            name: {"type": "integer"} for name in ("received", "recorded", "new", "unchanged", "corrected", "refused")
        }
        | {"refused_rows": {"type": "array", "items": {"type": "object"}}},
    }
    return {
        "/outcomes": {
            "post": {
                "summary": "Real outcomes of earlier predictions (admin): each row names its prediction by "
                f"prediction_id or by {' and '.join(id_columns) or 'the id columns'} (the latest prediction for "
                "that entity at or before observed_at); the same outcome twice counts once, a changed one is a "
                "correction; refused rows are listed with why",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "array", "items": row}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": {"200": json_content(report), **error_responses(400, 401, 403, 413, 415, 422, 429, 503)},
            }
        }
    }


def _model_paths() -> dict[str, Any]:
    return {
        "/models": {
            "get": {
                "summary": "The registry: versions (newest first) with metrics, dataset hash, created_at, "
                "status (serving / candidate / archived), the served and the previous version",
                "responses": {"200": json_content({"type": "object"}), **error_responses(500, 503)},
            }
        },
        "/models/audit": {
            "get": {
                "summary": "Who promoted or rolled back what, when and why (newest first)",
                "responses": {"200": json_content({"type": "object"}), **error_responses(500, 503)},
            }
        },
        "/models/{version}/promote": {
            "post": {
                "summary": 'Serve this version (admin); optional body {"reason": "...", "from_version": "..."}: '
                "with from_version, only if that version is still served (409 otherwise)",
                "security": [{"bearer": []}],
                "parameters": [path_parameter("version", VERSION_PATTERN)],
                "requestBody": {"required": False, "content": {"application/json": {"schema": PROMOTE_BODY}}},
                "responses": {
                    "200": json_content({"type": "object"}),
                    **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503),
                },
            }
        },
        "/models/shadow": {
            "get": {
                "summary": "The challenger in shadow (version, since, by), this replica's shadow counters, and the "
                "live comparison with the served version on the same labelled predictions of the window",
                "parameters": [LIVE_WINDOW_PARAMETER],
                "responses": {"200": json_content({"type": "object"}), **error_responses(400, 422, 500, 503)},
            },
            "delete": {
                "summary": "Stop the shadow (admin)",
                "security": [{"bearer": []}],
                "parameters": [LIVE_WINDOW_PARAMETER],
                "responses": {
                    "200": json_content({"type": "object"}),
                    **error_responses(400, 401, 403, 422, 429, 500, 503),
                },
            },
        },
        "/models/{version}/shadow": {
            "post": {
                "summary": "Put this version in shadow (admin): it scores what the served model scores, off the "
                "request path, and is compared live once outcomes arrive; 409 for the served version",
                "security": [{"bearer": []}],
                "parameters": [path_parameter("version", VERSION_PATTERN)],
                "responses": {
                    "200": json_content({"type": "object"}),
                    **error_responses(400, 401, 403, 404, 409, 422, 429, 500, 503),
                },
            }
        },
        "/models/rollback": {
            "post": {
                "summary": 'Serve the previously served version again (admin); optional body {"reason": "...", '
                '"version": "..."} to name another',
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                **SWITCH_BODY,
                                "properties": {**SWITCH_BODY["properties"], "version": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_content({"type": "object"}),
                    **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503),
                },
            }
        },
    }


LIVE_WINDOW_PARAMETER: dict[str, Any] = {
    "name": "window",
    "in": "query",
    "required": False,
    "description": "predictions of the last 7, 30 or 90 days (realised figures)",
    "schema": {"enum": list(LIVE_WINDOWS), "default": DEFAULT_LIVE_WINDOW},
}


def _metrics_paths() -> dict[str, Any]:
    window: dict[str, Any] = {
        "name": "window",
        "in": "query",
        "required": False,
        "schema": {"enum": list(WINDOWS), "default": "1h"},
    }
    positive_int = {"type": "integer", "minimum": 1}
    return {
        "/metrics": {
            "get": {
                "summary": "Model, system and business metrics in one object",
                "parameters": [window],
                "responses": {"200": json_content({"type": "object"}), **error_responses(400, 422, 503)},
            }
        },
        "/metrics/model": {
            "get": {
                "summary": "The served model's metrics (or another version's): on its test split (source=test), "
                "or realised on the "
                "predictions of the window whose outcome came back (source=live: coverage, figures with 95 % "
                "intervals or the reason they are withheld, campaign value, a daily series, the test figures "
                "beside them); 503 when the monitoring store cannot be read",
                "parameters": [
                    {
                        "name": "source",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["test", "live"], "default": "test"},
                    },
                    LIVE_WINDOW_PARAMETER,
                    {
                        "name": "version",
                        "in": "query",
                        "required": False,
                        "description": "another version of the registry (default: the served one)",
                        "schema": {"type": "string", "pattern": VERSION_PATTERN},
                    },
                ],
                "responses": {"200": json_content({"type": "object"}), **error_responses(400, 404, 422, 503)},
            }
        },
        "/metrics/system": {
            "get": {
                "summary": "Predictions logged over the window: count, errors, error rate, throughput, "
                "latency p50/p95/p99, by source, model version and replica, and a chart series (from the "
                "prediction log's rollups: with a PostgreSQL store, every replica's); 503 when the monitoring store "
                "cannot be read",
                "parameters": [window],
                "responses": {"200": json_content(SYSTEM_METRICS), **error_responses(400, 422, 503)},
            }
        },
        "/metrics/prometheus": {
            "get": {
                "summary": "This replica's metrics in Prometheus's text format: predictions by source, model "
                "version and outcome, refusals by kind, latency histogram, served model, feature PSI and drift "
                "status, jobs by state, the store's queue and dropped rows",
                "responses": {"200": {"description": "text/plain; version=0.0.4", "content": {"text/plain": {}}}},
            }
        },
        "/metrics/kpis": {
            "get": {
                "summary": "Business KPIs",
                "responses": {"200": json_content({"type": "object"}), **error_responses(503)},
            }
        },
        "/metrics/feature-distribution": {
            "get": {
                "summary": "Per feature: training distribution, recent counts on the training bins, PSI and "
                "drift status (ok < 0.1 <= watch < 0.25 <= alert; too_few under 100 recent inputs); drift of the "
                "predicted probability; paginated",
                "parameters": [
                    {**window, "schema": {**window["schema"], "default": "24h"}},
                    {"name": "feature", "in": "query", "required": False, "schema": {"type": "string"}},
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "schema": {**positive_int, "maximum": MAX_PAGE, "default": 1},
                    },
                    {
                        "name": "page_size",
                        "in": "query",
                        "required": False,
                        "schema": {**positive_int, "maximum": 100, "default": 10},
                    },
                ],
                "responses": {"200": json_content({"type": "object"}), **error_responses(400, 404, 422, 503)},
            }
        },
    }
