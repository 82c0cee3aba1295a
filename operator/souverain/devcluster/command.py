"""``souverain dev-cluster``: the local control plane's command. Its parser costs nothing
to build; the cluster's modules are imported only when the command runs."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from souverain.devcluster.cluster import DevCluster

COMPONENT_NAMES = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok")
"""The components of the local control plane, as ``dev-cluster stop|start|...`` names them
(the same as :data:`souverain.devcluster.components.COMPONENTS`, which a unit test checks)."""

CONTROL_ACTIONS = ("stop", "start", "restart", "pause", "resume")
"""``dev-cluster`` actions on one component, to rehearse outages."""


def _control(cluster: DevCluster, action: str, component: str | None) -> int:
    from souverain.devcluster.components import COMPONENTS, Components

    if component is None:
        print(
            f"souverain: dev-cluster {action} needs a component: {', '.join(COMPONENTS)}",
            file=sys.stderr,
        )
        return 2
    components = Components(cluster)
    if action == "stop":
        done = components.stop(component)
        print(f"stopped {component}" if done else f"{component} was not running")
    elif action == "start":
        done = components.start(component)
        print(f"started {component}" if done else f"{component} was already running")
    elif action == "restart":
        components.restart(component)
        print(f"restarted {component}")
    elif action == "pause":
        components.pause(component)
        print(f"paused {component} (resume it with 'souverain dev-cluster resume {component}')")
    else:
        components.resume(component)
        print(f"resumed {component}")
    return 0


def _load_images(cluster: DevCluster, archives: list[Path]) -> int:
    from souverain.devcluster.realnodes import RealNodes

    state = cluster.state()
    nodes = [str(n) for n in (state.real.get("nodes", []) if state else [])]
    if not nodes:
        print(
            "souverain: no real node runs from this state dir (up --real-nodes N)", file=sys.stderr
        )
        return 1
    if not archives:
        print("souverain: load-images needs --image ARCHIVE (repeatable)", file=sys.stderr)
        return 2
    real = RealNodes(cluster, [], archives)
    for node in nodes:
        names = real.load(real.paths(node), archives)
        print(f"{node}: {', '.join(names)}")
    return 0


def _dev_cluster(args: argparse.Namespace) -> int:
    from souverain.devcluster.binaries import TOOLS, MissingPrerequisiteError, bin_dir
    from souverain.devcluster.cluster import DevCluster, DevClusterError
    from souverain.devcluster.realnodes import RealNodesError

    plugins = tuple(p for p in (args.admission_plugins or "").split(",") if p)
    images = [Path(p).absolute() for p in args.image] if args.image else None
    try:
        cluster = DevCluster(
            Path(args.state_dir),
            admission_plugins=plugins,
            real_nodes=args.real_nodes if args.action == "up" else 0,
            images=images,
        )
        if args.action == "up":
            cluster.up(timeout=args.timeout)
            print(cluster.kubeconfig)
        elif args.action == "down":
            stopped = cluster.down()
            print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        elif args.action == "status":
            status = cluster.status()
            print(json.dumps(status, indent=2))
            return 0 if status.get("running") else 1
        elif args.action == "load-images":
            return _load_images(cluster, images or [])
        elif args.action in CONTROL_ACTIONS:
            return _control(cluster, args.action, args.component)
        elif args.action == "env":
            tools = bin_dir()
            missing = [t for t in TOOLS if not (tools / t).exists()]
            if missing:
                print(f"# not built yet: {', '.join(missing)} (make binaries)", file=sys.stderr)
            print(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}")
            print(f'export PATH={shlex.quote(str(tools))}:"$PATH"')
    except (DevClusterError, MissingPrerequisiteError, RealNodesError) as error:
        print(f"souverain: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # anything else still gets one line, and where to look
        print(
            f"souverain: dev-cluster {args.action} failed: {error!r}; "
            f"the components' logs are in {Path(args.state_dir) / 'logs'}",
            file=sys.stderr,
        )
        return 1
    return 0


def add_dev_cluster_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds ``dev-cluster`` to the ``souverain`` command's subcommands."""
    dev = commands.add_parser("dev-cluster", help="a local Kubernetes control plane on loopback")
    dev.add_argument(
        "action",
        choices=("up", "down", "status", "env", "load-images", *CONTROL_ACTIONS),
        help="up, down, status, env for the whole control plane; load-images into the real "
        "nodes; stop, start, restart, pause (SIGSTOP: connections stay open, nothing "
        "answers), resume for one component",
    )
    dev.add_argument(
        "component",
        nargs="?",
        choices=COMPONENT_NAMES,
        help="the component that stop, start, restart, pause and resume act on",
    )
    dev.add_argument(
        "--state-dir",
        default=os.environ.get("SOUVERAIN_DEV_CLUSTER", ".souverain/dev-cluster"),
        help="where its certificates, data, logs and kubeconfig live",
    )
    dev.add_argument(
        "--admission-plugins",
        default="",
        help="admission plugins to enable on top of the defaults, comma-separated",
    )
    dev.add_argument(
        "--real-nodes",
        type=int,
        default=int(os.environ.get("SOUVERAIN_REAL_NODES") or 0),
        metavar="N",
        help="also start N real nodes (kubelet and containerd on this machine; root, "
        "Debian's containerd, crun and CNI plugins); they alternate French-sovereign and not",
    )
    dev.add_argument(
        "--image",
        action="append",
        metavar="ARCHIVE",
        help="an image archive (docker or OCI) to load into every real node; repeatable. "
        "Default for up: the archives of 'make node-images' and 'make image'",
    )
    dev.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    dev.set_defaults(handler=_dev_cluster)
