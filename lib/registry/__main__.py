"""`python -m lib.registry`: the registry from a shell."""

from __future__ import annotations

import json
from pathlib import Path

from lib.model.bundle import read_pointer
from lib.registry import RegistryError, S3Registry, open_registry
from lib.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    """`python -m lib.registry list|publish|promote|rollback`: the registry from a shell,
    e.g. to put the committed model into an S3 registry before the first deployment."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m lib.registry", description="the model registry from a shell")
    parser.add_argument("--registry", help="local folder or s3://bucket/prefix (default: MODEL_URI)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions, newest first, with their status")
    publish = commands.add_parser("publish", help="upload a bundle folder to an S3 registry")
    publish.add_argument("folder", type=Path)
    publish.add_argument("--serve", action="store_true", help="and serve it")
    promote = commands.add_parser("promote", help="serve a version")
    promote.add_argument("version")
    promote.add_argument("--reason", default="")
    rollback = commands.add_parser("rollback", help="serve the previously served version again")
    rollback.add_argument("--reason", default="")
    seed = commands.add_parser(
        "seed",
        help="first deployment: create the S3 bucket, publish and serve what a local registry serves, "
        "unless the S3 registry serves a version already (safe to run at every start)",
    )
    seed.add_argument("local_registry", type=Path)
    args = parser.parse_args(argv)
    registry = open_registry(args.registry or get_settings().model_uri)
    actor = "command line"
    try:
        if args.command == "list":
            for info in registry.versions():
                roc = info.metrics.get("roc_auc")
                shown = "n/a" if roc is None else f"{roc:.4f}"
                print(f"{info.version}  {info.status:9}  {info.created_at}  ROC AUC {shown}")
        elif args.command == "publish":
            if not registry.remote:  # a local registry's versions are written in place by training
                raise RegistryError("publish uploads to an S3 registry: pass --registry s3://bucket/prefix")
            version = registry.publish(args.folder)
            print(f"published {version} to {registry.uri}")
            if args.serve:
                registry.promote(version, actor, "published from the command line")
                print(f"now serving {version}")
        elif args.command == "seed":
            if not isinstance(registry, S3Registry):
                raise RegistryError("seed fills an S3 registry: pass --registry s3://bucket/prefix")
            print(seed_registry(registry, args.local_registry))
        else:
            event = (
                registry.promote(args.version, actor, args.reason)
                if args.command == "promote"
                else registry.rollback(actor, args.reason)
            )
            print(f"now serving {event.to_version} (was {event.from_version})")
    except (RegistryError, OSError, KeyError, json.JSONDecodeError) as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 2
    return 0


def seed_registry(registry: S3Registry, local: Path) -> str:
    """Make the bucket if needed; publish and serve the local registry's served version
    if the S3 registry serves nothing yet. Returns what it did."""
    registry.ensure_bucket()
    served = registry.served()
    if served is not None:
        return f"{registry.uri} serves {served} already: nothing to do"
    version = read_pointer(local)
    if version is None:
        raise RegistryError(f"{local} serves no version to publish")
    registry.publish(local / version)
    registry.promote(version, "command line", "first deployment (seed)")
    return f"published {version} to {registry.uri} and serving it"


if __name__ == "__main__":
    raise SystemExit(main())
