"""deploy/k8s/ as ``podman kube play`` of podman 4.3 (Debian bookworm) runs it, offline.

kube play knows Pods, Deployments, PersistentVolumeClaims and ConfigMaps, and no StatefulSet, Service or
Secret; its volumes are hostPath, emptyDir and persistentVolumeClaim only. So the manifests are turned into
what it runs, keeping their topology (the same containers, commands, settings, users and volumes):

- a StatefulSet becomes one Pod per replica, named as Kubernetes names them (``nats-0`` ..), each with
  the PersistentVolumeClaim its ``volumeClaimTemplates`` would give it (``data-nats-0``);
- a Deployment becomes one Pod per replica (``orders-0`` ..): pods are what podman names predictably;
- there are no Services: podman's DNS resolves a pod by its name on the pods' network, so the names the
  Services give (``nats-0.nats``, ``postgres``) become the pods' names in every setting and file;
- Secrets' values and the settings ConfigMap go into each container's environment, and a ConfigMap mounted
  as a volume becomes files (written to ``files``) mounted by hostPath;
- containers' ports are left out (podman 4.3 publishes every containerPort on the host, where the host's
  own PostgreSQL and NATS hold them): the pods are reached at their addresses on their network;
- images are the offline-built ones (as docker-compose.offline.yml swaps them), and the probes' httpGet,
  which podman turns into a ``curl`` the images lack, becomes the same request made by the image's own
  program (as compose's health checks do).

A prefix of the run's own starts every pod's and volume's name, so runs side by side do not collide.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy.containers.topology import CONTAINERS_CONF, ROOT, wait_for_each
from deploy.images import PODMAN

K8S = ROOT / "deploy" / "k8s"
NETWORK = "salesops"  # a play's podman network, after the run's prefix

# How a probe's HTTP request is made inside each image (neither has curl).
PYTHON_GET = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)"


@dataclass(frozen=True)
class KubeImages:
    """The offline image standing in for each image the manifests name (by repository)."""

    salesops: str
    nats: str
    postgres: str

    def for_(self, image: str) -> str:
        repository = image.split(":", 1)[0]
        return {"salesops": self.salesops, "nats": self.nats, "postgres": self.postgres}[repository]


@dataclass(frozen=True)
class Adjustments:
    """What a run changes in the manifests: ``prefix`` starts every pod's and volume's name; ``secrets`` and
    ``settings`` replace values of the Secret and of the ConfigMap ``salesops-settings``; ``max_replicas``
    caps a Deployment's replicas (StatefulSets keep theirs: the NATS cluster needs 3), ``deployments`` names
    the Deployments played."""

    prefix: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    max_replicas: int | None = None
    deployments: frozenset[str] | None = None  # the Deployments to play (None: all)


def manifests(directory: Path = K8S) -> list[dict[str, Any]]:
    """The documents of the kustomization's resources, in its order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return [
        document
        for resource in kustomization["resources"]
        for document in yaml.safe_load_all((directory / resource).read_text())
        if document
    ]


def kube_play_documents(
    documents: list[dict[str, Any]], images: KubeImages, files: Path, adjust: Adjustments
) -> list[dict[str, Any]]:
    """What ``podman kube play`` runs for ``documents`` (see the module's doc)."""
    prefix, max_replicas = adjust.prefix, adjust.max_replicas
    config_maps = {d["metadata"]["name"]: dict(d["data"]) for d in documents if d["kind"] == "ConfigMap"}
    config_maps["salesops-settings"].update(adjust.settings)
    secret_values = {
        d["metadata"]["name"]: {**d["stringData"], **adjust.secrets}
        for d in documents
        if d["kind"] == "Secret"
    }
    renames = pod_names(documents, prefix)
    played: list[dict[str, Any]] = []
    for document in documents:
        kind = document["kind"]
        name = document["metadata"]["name"]
        if kind not in ("StatefulSet", "Deployment"):
            continue
        if kind == "Deployment" and adjust.deployments is not None and name not in adjust.deployments:
            continue
        replicas = document["spec"].get("replicas", 1)
        if kind == "Deployment" and max_replicas is not None:
            replicas = min(replicas, max_replicas)
        for ordinal in range(replicas):
            pod = f"{prefix}{name}-{ordinal}"
            claims = {
                claim["metadata"]["name"]: {
                    **claim,
                    "metadata": {"name": f"{claim['metadata']['name']}-{pod}"},
                }
                for claim in document["spec"].get("volumeClaimTemplates", [])
            }
            played += [
                {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim} for claim in claims.values()
            ]
            template = copy.deepcopy(document["spec"]["template"])
            spec = template["spec"]
            spec.pop("affinity", None)  # one host: nothing to spread over
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            volumes |= {
                volume: {"name": volume, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
                for volume, claim in claims.items()
            }
            spec["volumes"] = []
            for container in spec["containers"]:
                container["image"] = images.for_(container["image"])
                container["env"] = environment(container, pod, config_maps, secret_values, renames)
                container.pop("envFrom", None)
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe in container:
                        container[probe] = exec_probe(container[probe], container)
                container.pop("ports", None)  # podman 4.3 would publish each on the host
                for mount in container.get("volumeMounts", []):
                    mounted = mounted_volume(
                        volumes[mount.pop("name")], mount, pod, config_maps, files, renames
                    )
                    mount["name"] = mounted["name"]
                    if mounted not in spec["volumes"]:
                        spec["volumes"].append(mounted)
            played.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": pod, "labels": template["metadata"].get("labels", {})},
                    "spec": spec,
                }
            )
    return played


def pod_names(documents: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    """The names Services give in the cluster → the pod names podman's DNS resolves: a StatefulSet's
    ``<name>-<n>.<service>``, and the name of a Service in front of a StatefulSet of one pod."""
    renames: dict[str, str] = {}
    sets = [d for d in documents if d["kind"] == "StatefulSet"]
    for document in sets:
        name, service = document["metadata"]["name"], document["spec"]["serviceName"]
        for ordinal in range(document["spec"]["replicas"]):
            renames[f"{name}-{ordinal}.{service}"] = f"{prefix}{name}-{ordinal}"
    for service in (d for d in documents if d["kind"] == "Service" and d["spec"].get("clusterIP") != "None"):
        selector = service["spec"]["selector"]
        for document in sets:
            labels = document["spec"]["template"]["metadata"]["labels"]
            if document["spec"]["replicas"] == 1 and selector.items() <= labels.items():
                renames[service["metadata"]["name"]] = f"{prefix}{document['metadata']['name']}-0"
    return renames


def renamed(text: str, renames: dict[str, str]) -> str:
    """``text`` with every Service name of ``renames`` (a whole host name) replaced by its pod's."""
    for stable, pod in sorted(renames.items(), key=lambda item: -len(item[0])):
        text = re.sub(rf"(?<![\w.-]){re.escape(stable)}(?![\w-])", pod, text)
    return text


def environment(
    container: dict[str, Any],
    pod: str,
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
    renames: dict[str, str],
) -> list[dict[str, str]]:
    """The container's whole environment as plain values (envFrom first, then env, as Kubernetes does)."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        values.update(config_maps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        if "value" in variable:
            values[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]
        if "secretKeyRef" in reference:
            key = reference["secretKeyRef"]
            values[variable["name"]] = secrets[key["name"]][key["key"]]
        elif "configMapKeyRef" in reference:
            key = reference["configMapKeyRef"]
            values[variable["name"]] = config_maps[key["name"]][key["key"]]
        elif reference.get("fieldRef", {}).get("fieldPath") == "metadata.name":
            values[variable["name"]] = pod
        else:
            raise ValueError(f"{pod}: no plain value for {variable}")
    return [{"name": name, "value": renamed(value, renames)} for name, value in values.items()]


def mounted_volume(
    declared: dict[str, Any],
    mount: dict[str, Any],
    pod: str,
    config_maps: dict[str, dict[str, str]],
    files: Path,
    renames: dict[str, str],
) -> dict[str, Any]:
    """The volume a mount uses: a ConfigMap's files written out and mounted by hostPath (a directory, or
    the one file of a ``subPath`` mount, which is taken off the mount); any other volume as it is."""
    if "configMap" not in declared:
        return declared
    directory = files / pod / declared["name"]
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in config_maps[declared["configMap"]["name"]].items():
        (directory / name).write_text(renamed(text, renames))
    if "subPath" in mount:
        file = mount.pop("subPath")
        name = f"{declared['name']}-{re.sub(r'[^a-z0-9]+', '-', file.lower())}"
        return {"name": name, "hostPath": {"path": str(directory / file), "type": "File"}}
    return {"name": declared["name"], "hostPath": {"path": str(directory), "type": "Directory"}}


def exec_probe(probe: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """An httpGet probe as the same request made by a program the image has (its port by name or
    number)."""
    if "httpGet" not in probe:
        return probe
    get = probe["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p.get("name") == port)
    url = f"http://127.0.0.1:{port}{get['path']}"
    runs_python = container.get("command", [""])[0] == "python"
    command = ["python", "-c", PYTHON_GET, url] if runs_python else ["wget", "-q", "-O", "/dev/null", url]
    converted = {key: value for key, value in probe.items() if key != "httpGet"}
    converted["exec"] = {"command": command}
    return converted


def kube_play_file(path: Path, images: KubeImages, adjust: Adjustments) -> KubePlay:
    """Write the kube-play file of deploy/k8s/ to ``path`` (ConfigMap files beside it), to be played on the
    network ``<prefix>salesops`` (``NETWORK``)."""
    played = kube_play_documents(manifests(), images, path.parent / f"{path.stem}-files", adjust)
    path.write_text(yaml.safe_dump_all(played, sort_keys=False))
    return KubePlay(path, played, f"{adjust.prefix}{NETWORK}")


def written_play(path: Path) -> KubePlay:
    """The play of a kube-play file ``kube_play_file`` wrote before without a prefix."""
    return KubePlay(path, list(yaml.safe_load_all(path.read_text())), NETWORK)


@dataclass
class KubePlay:
    """The kube-play file played on a network of its own (podman's DNS resolves pods by name only on a
    network other than its default one), and everything it made removed again."""

    file: Path
    documents: list[dict[str, Any]]
    network: str

    def pods(self) -> dict[str, dict[str, Any]]:
        return {d["metadata"]["name"]: d for d in self.documents if d["kind"] == "Pod"}

    def container(self, pod: str) -> str:
        """The name podman gives the pod's (first) container."""
        return f"{pod}-{self.pods()[pod]['spec']['containers'][0]['name']}"

    def podman(self, *arguments: str, check: bool = True, timeout: float = 600) -> str:
        # Played from the file's folder: kube play looks for a folder named like each image to build it
        # from, and this repository's root has a file named like the salesops image.
        done = subprocess.run(
            [*PODMAN, *arguments],
            cwd=self.file.parent,
            env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(arguments)}:\n{(done.stdout + done.stderr)[-4000:]}")
        return done.stdout

    def play(self) -> None:
        self.podman("network", "create", self.network)
        self.podman("kube", "play", "--network", self.network, str(self.file))

    def down(self) -> None:
        """Pods, volumes and network of this play, killed at once (``podman kube down`` of podman 4.3 stops
        at the first pod missing)."""
        self.podman("pod", "rm", "--force", "--ignore", "--time", "0", *self.pods(), check=False)
        claims = [d["metadata"]["name"] for d in self.documents if d["kind"] == "PersistentVolumeClaim"]
        self.podman("volume", "rm", "--force", *claims, check=False)
        self.podman("network", "rm", "--force", self.network, check=False)

    def address(self, pod: str) -> str:
        """The pod's address on the play's network, which this (rootful) host reaches directly."""
        shown = self.podman(
            "inspect", "--format", f"{{{{(index .NetworkSettings.Networks \"{self.network}\").IPAddress}}}}",
            self.container(pod),
        )  # fmt: skip
        return shown.strip()

    def ready(self, pod: str) -> bool:
        """The pod's readiness probe, run once now in its container (podman 4.3 runs none by itself)."""
        container = self.pods()[pod]["spec"]["containers"][0]
        command = container["readinessProbe"]["exec"]["command"]
        probed = subprocess.run(
            [*PODMAN, "exec", self.container(pod), *command], capture_output=True, text=True, timeout=30
        )
        return probed.returncode == 0

    def wait_ready(self, timeout: float) -> None:
        wait_for_each(self.pods(), self.ready, timeout, "ready", self.logs)

    def logs(self, pod: str) -> str:
        shown = self.podman("logs", self.container(pod), check=False)
        return shown[-4000:]
