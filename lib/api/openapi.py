"""The OpenAPI 3.1 document of the REST API; the record schema follows features_order.json.

It describes exactly what the API accepts (schemathesis checks that in CI): numbers
within the hard bounds, text for categories (an enum when unknown categories are
refused; any text, with the known ones listed, when they are accepted with a warning).
"""

from __future__ import annotations

from typing import Any, get_args

from lib.model.confidence import CONFIDENCE_NAMES
from lib.model.schema import FeatureSchema, FeatureSpec
from lib.monitoring.store import WINDOWS
from lib.registry.base import VERSION_NAME
from lib.retraining.jobs import JOB_ID, JobStatus

ERROR = {"$ref": "#/components/schemas/Error"}
MAX_PAGE = 1_000_000
NUMBER_OR_NULL = {"type": ["number", "null"]}


def _feature(spec: FeatureSpec, policy: str) -> dict[str, Any]:
    if spec.is_numeric:
        schema: dict[str, Any] = {
            "type": ["number", "null"] if spec.nullable else "number",
            "minimum": spec.hard_range[0],
            "maximum": spec.hard_range[1],
            "description": "training range {:g} to {:g}; outside it a warning is returned".format(*spec.training_range),
        }
    elif policy == "reject":
        schema = {"enum": [*spec.categories, *([None] if spec.nullable else [])]}
    else:
        schema = {
            "type": ["string", "null"] if spec.nullable else "string",
            "examples": spec.categories,
            "description": "known: " + ", ".join(spec.categories) + "; any other value is scored with a warning",
        }
    schema["x-default"] = spec.default
    return schema


def record_schema(schema: FeatureSchema) -> dict[str, Any]:
    return {
        "type": "object",
        "required": schema.names,
        "properties": {spec.name: _feature(spec, schema.unknown_categories) for spec in schema.features},
        "additionalProperties": True,
        "description": "Other fields (an id, the target) are ignored, with a warning when unknown.",
    }


def _error_responses(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Malformed request",
        401: "No admin token",
        403: "Wrong admin token, not allowed from here, or sent by a page of another site",
        404: "Not found",
        405: "Method not allowed",
        413: "Body too large",
        415: "Body is not JSON (or not UTF-8, or compressed)",
        429: "Too many wrong admin tokens from this client: see Retry-After",
        409: "Conflict: a job is already running, the version is already served, or nothing to roll back to",
        422: "Invalid input: every bad field (or every problem of an uploaded file) is named",
        500: "A registry file cannot be read",
        503: "No model loaded, or the registry or the monitoring store cannot be reached",
    }
    return {
        str(code): {"description": texts[code], "content": {"application/json": {"schema": ERROR}}} for code in codes
    }


def _path_parameter(name: str, pattern: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": pattern}}


JOB_ID_PATTERN = JOB_ID.pattern
VERSION_PATTERN = VERSION_NAME.pattern


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# What each Prediction field is, for callers; every field of lib.model.inference.Prediction
# must be here (prediction_schema() refuses to build a document that misses one).
PREDICTION_PROPERTIES: dict[str, dict[str, Any]] = {
    "label": {"type": "string"},
    "predicted_positive": {"type": "boolean"},
    "probability": {"type": "number", "minimum": 0, "maximum": 1},
    "threshold": {"type": "number"},
    "confidence": {"enum": list(CONFIDENCE_NAMES)},
    "confidence_accuracy": NUMBER_OR_NULL,
    "quality_score": {"type": "number", "minimum": 0, "maximum": 1},
    "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
    "reasons": {"type": "array", "items": {"type": "object"}},
    "model_version": {"type": "string"},
    "latency_ms": {"type": "number"},
}
OPTIONAL_PREDICTION_FIELDS = ("predicted_positive", "confidence_accuracy", "latency_ms")


def prediction_schema() -> dict[str, Any]:
    """The Prediction object, field for field as lib.model.inference defines it."""
    from lib.model.inference import PREDICTION_FIELDS  # imported when the document is built, not at start

    if list(PREDICTION_PROPERTIES) != list(PREDICTION_FIELDS):
        raise RuntimeError(f"the OpenAPI Prediction lists {list(PREDICTION_PROPERTIES)}, the code {PREDICTION_FIELDS}")
    return {
        "type": "object",
        "required": [name for name in PREDICTION_FIELDS if name not in OPTIONAL_PREDICTION_FIELDS],
        "properties": PREDICTION_PROPERTIES,
    }


_SUMMARY = {
    "requests": {"type": "integer"},
    "errors": {"type": "integer"},
    "error_rate": {"type": "number"},
    "throughput_rps": {"type": "number"},
    "latency_ms": {
        "type": "object",
        "properties": {q: {"type": ["number", "null"]} for q in ("p50", "p95", "p99")},
    },
}
SYSTEM_METRICS = {
    "type": "object",
    "required": ["window", "requests", "errors", "error_rate", "throughput_rps", "latency_ms", "by_source", "series"],
    "properties": {
        "window": {"type": "string"},
        "window_seconds": {"type": "integer"},
        **_SUMMARY,
        "by_source": {"type": "object", "additionalProperties": {"type": "object", "properties": _SUMMARY}},
        "by_version": {"type": "object", "additionalProperties": {"type": "object", "properties": _SUMMARY}},
        "series_step_seconds": {"type": "integer"},
        "series": {"type": "array", "items": {"type": "object"}},
    },
}


JOB = {
    "type": "object",
    "required": ["job"],
    "properties": {
        "job": {
            "type": "object",
            "required": ["id", "status", "progress"],
            "properties": {
                "id": {"type": "string"},
                "status": {"enum": list(get_args(JobStatus))},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "step": {"type": "string"},
                "log": {"type": "array", "items": {"type": "string"}},
                "result": {"type": "object"},
                "error": {"type": "string"},
            },
        }
    },
}
SWITCH_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string"}},
    "additionalProperties": False,
}


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
            **_predict_paths(record, max_batch),
            **_training_paths(),
            **_model_paths(),
            **_metrics_paths(),
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}},
        },
        "components": _components(),
    }


def _health_paths() -> dict[str, Any]:
    return {
        "/health": {
            "get": {
                "summary": "Service state: ok; degraded (serving, but the monitoring store cannot be written or "
                "the bundle has no KPIs; `reason` says which); 503 unavailable when no model can be loaded",
                "responses": {
                    "200": _json({"$ref": "#/components/schemas/Health"}),
                    **{"503": _json({"$ref": "#/components/schemas/Health"}, "No model loaded")},
                },
            }
        },
        "/health/live": {"get": {"summary": "The process answers", "responses": {"200": _json({"type": "object"})}}},
        "/health/ready": {
            "get": {
                "summary": "Model loaded and a smoke prediction passes",
                "responses": {"200": _json({"type": "object"}), **_error_responses(503)},
            }
        },
    }


def _predict_paths(record: dict[str, Any], max_batch: int) -> dict[str, Any]:
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
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
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
                    **_error_responses(400, 413, 415, 422, 503),
                },
            }
        },
    }


def _training_paths() -> dict[str, Any]:
    return {
        "/train": {
            "post": {
                "summary": "Start a retraining job (admin): on the bundled dataset (no body, or "
                '{"data": "bundled"}) or on a CSV sent as text/csv; 409 while another job runs',
                "security": [{"bearer": []}],
                "parameters": [{"name": "name", "in": "query", "required": False, "schema": {"type": "string"}}],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"data": {"enum": ["bundled"]}},
                                "additionalProperties": False,
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "202": _json(JOB, "The job started; Location: /train/{id}"),
                    **_error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503),
                },
            }
        },
        "/train/{job_id}": {
            "get": {
                "summary": "A retraining job: state, progress, step, log tail, result (admin)",
                "security": [{"bearer": []}],
                "parameters": [_path_parameter("job_id", JOB_ID_PATTERN)],
                "responses": {"200": _json(JOB), **_error_responses(400, 401, 403, 404, 429)},
            },
            "delete": {
                "summary": "Cancel a queued or running job (admin); what it wrote stays unlisted",
                "security": [{"bearer": []}],
                "parameters": [_path_parameter("job_id", JOB_ID_PATTERN)],
                "responses": {
                    "200": _json(JOB, "Cancelled: the job's process is gone"),
                    "202": _json(JOB, "Cancelling: the job ends before training or promoting"),
                    **_error_responses(400, 401, 403, 404, 409, 429),
                },
            },
        },
    }


def _model_paths() -> dict[str, Any]:
    return {
        "/models": {
            "get": {
                "summary": "The registry: versions (newest first) with metrics, dataset hash, created_at, "
                "status (serving / candidate / archived), the served and the previous version",
                "responses": {"200": _json({"type": "object"}), **_error_responses(500, 503)},
            }
        },
        "/models/audit": {
            "get": {
                "summary": "Who promoted or rolled back what, when and why (newest first)",
                "responses": {"200": _json({"type": "object"}), **_error_responses(500, 503)},
            }
        },
        "/models/{version}/promote": {
            "post": {
                "summary": 'Serve this version (admin); optional body {"reason": "..."}',
                "security": [{"bearer": []}],
                "parameters": [_path_parameter("version", VERSION_PATTERN)],
                "requestBody": {"required": False, "content": {"application/json": {"schema": SWITCH_BODY}}},
                "responses": {
                    "200": _json({"type": "object"}),
                    **_error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503),
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
                    "200": _json({"type": "object"}),
                    **_error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 503),
                },
            }
        },
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
                "responses": {"200": _json({"type": "object"}), **_error_responses(400, 422, 503)},
            }
        },
        "/metrics/model": {
            "get": {
                "summary": "Test-split metrics of the served model",
                "responses": {"200": _json({"type": "object"}), **_error_responses(503)},
            }
        },
        "/metrics/system": {
            "get": {
                "summary": "Predictions logged over the window: count, errors, error rate, throughput, "
                "latency p50/p95/p99, by source and model version, and a chart series (from the prediction "
                "log's rollups); 503 when the monitoring store cannot be read",
                "parameters": [window],
                "responses": {"200": _json(SYSTEM_METRICS), **_error_responses(400, 422, 503)},
            }
        },
        "/metrics/kpis": {
            "get": {
                "summary": "Business KPIs",
                "responses": {"200": _json({"type": "object"}), **_error_responses(503)},
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
                "responses": {"200": _json({"type": "object"}), **_error_responses(400, 404, 422, 503)},
            }
        },
    }


def _components() -> dict[str, Any]:
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Problem": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error", "details"],
                "properties": {"error": {"type": "string"}, "details": {"type": "array"}},
            },
            "Health": {
                "type": "object",
                "required": ["status", "model_loaded"],
                "properties": {
                    "status": {"enum": ["ok", "degraded", "unavailable"]},
                    "model_loaded": {"type": "boolean"},
                    "model_version": {"type": ["string", "null"]},
                    "uptime_s": {"type": "number"},
                    "reason": {"type": "string"},
                    "checks": {"type": "object"},
                },
            },
        },
    }
