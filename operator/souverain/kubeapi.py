"""The few calls the operator makes to the API server, over the kubernetes client's
transport: get, list, server-side apply, delete, status patches and discovery.

Objects are plain dicts, as the pure parts of the operator produce them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any, Final

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from souverain.kinds import KINDS

FIELD_MANAGER: Final = "souverain"

LIST_PAGE: Final = 500
"""Objects per page of the informers' lists, as client-go's reflectors ask for them: a
list of thousands of pods is then parsed a page at a time, and trimmed by its informer
before the next page is read, instead of parsed whole (hundreds of MiB at 10,000 pods,
which the process keeps resident once freed)."""

WATCH_INACTIVITY_SECONDS: Final = 70.0
"""How long a watch may send nothing before it is listed again. The API server sends a
bookmark every minute on watches that ask for them, though not on every watch of a kind
with no objects (see :class:`WatchSilentError`)."""


class ApiUnavailableError(ConnectionError):
    """The API server could not be reached or did not answer in time: a refused or reset
    connection, a timeout. The message says what was asked and what happened, in a line."""

    def __init__(self, request: str, reason: str) -> None:
        super().__init__(f"{request}: {reason}")
        self.request = request
        self.reason = reason


class WatchSilentError(ApiUnavailableError):
    """A watch sent nothing, not even a bookmark, for longer than it may: the API server
    may hang, or the kind may be quiet (bookmarks are not sent on every watch)."""


def watch_inactivity(timeout_seconds: float) -> float:
    """How long a watch asked to last ``timeout_seconds`` may stay silent: a little past
    its end, or past the next bookmark when it is asked to last longer than that."""
    return min(timeout_seconds + 10.0, WATCH_INACTIVITY_SECONDS)


def describe(error: BaseException) -> str:
    """An API error in one line: ``422 Unprocessable Entity: <the server's message>``."""
    if isinstance(error, ApiException):
        message = ""
        try:
            message = json.loads(error.body or "{}").get("message") or ""
        except (ValueError, AttributeError):
            message = ""
        text = f"{error.status} {error.reason}" + (f": {message}" if message else "")
        return " ".join(text.split())
    return " ".join(str(error).split()) or type(error).__name__


def _unavailable(method: str, path: str, error: Exception) -> ApiUnavailableError:
    """The urllib3 error as one line, without urllib3's object names: it names the
    connection first ("HTTPSConnection(host=..., port=...): ...")."""
    text = " ".join(str(getattr(error, "reason", None) or error).split())
    if text.startswith(("<", "HTTP")):
        for marker in (">: ", "): "):
            if marker in text:
                text = text.split(marker, 1)[1]
                break
    return ApiUnavailableError(f"{method} {path}", text)


def load_api_client() -> client.ApiClient:
    """In a pod, the service account; elsewhere, the kubeconfig ``$KUBECONFIG`` names
    (read now, not when the kubernetes package was imported)."""
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None,
            client_configuration=configuration,
        )
    # Each informer's watch holds a connection for as long as it lasts (ten of them), and
    # up to 16 kopf handler threads, the settle loop and the node counter make requests:
    # a smaller pool would open and throw away a TLS connection for most requests.
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


class KubeApi:
    """Plain-dict access to the API server, shared by the handlers (thread-safe)."""

    def __init__(self, api_client: client.ApiClient, discovery_ttl: float | None = None) -> None:
        self._client = api_client
        if discovery_ttl is None:
            discovery_ttl = float(os.environ.get("SOUVERAIN_DISCOVERY_SECONDS", "30"))
        self._discovery_ttl = discovery_ttl
        self._served: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    @property
    def server(self) -> str:
        """The API server's address."""
        host: str = self._client.configuration.host
        return host

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        response = self._call(method, path, query or [], body, {"Content-Type": content_type})
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        headers: dict[str, str],
    ) -> tuple[int, Any, bytes]:
        """One request whatever its answer: the status, the response headers and the
        body (for answers the caller reads itself, such as a dry run's refusal)."""
        response = self._call(method, path, query, body, headers)
        return response.status, response.headers, response.data or b""

    def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: Any,
        headers: dict[str, str],
    ) -> Any:
        request = self._client.param_serialize(
            method,
            path,
            query_params=query,
            header_params={
                "Accept": "application/json",
                "Content-Type": "application/json",
                **headers,
            },
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._client.call_api(*request, _request_timeout=30)
            response.read()  # type: ignore[no-untyped-call]
        except urllib3.exceptions.HTTPError as error:
            raise _unavailable(method, path, error) from None
        return response

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            found: dict[str, Any] = self._request("GET", KINDS[kind].path(name, namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found

    def list_objects(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """The objects of a kind, in one namespace or in all, optionally by label or by
        field (``metadata.name=...``)."""
        query = [("labelSelector", label_selector)] if label_selector else []
        if field_selector:
            query.append(("fieldSelector", field_selector))
        try:
            listed = self._request("GET", KINDS[kind].path(namespace=namespace), query=query)
        except ApiException as error:
            if error.status == 404:  # the kind is not served (any more): there are none
                return []
            raise
        items: list[dict[str, Any]] = listed.get("items") or []
        return items

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as the operator's field manager, taking over conflicting fields.

        Fields the operator applied before and leaves out now are removed; applying the
        same object twice changes nothing (not even the resourceVersion).
        """
        metadata = obj["metadata"]
        path = KINDS[obj["kind"]].path(metadata["name"], metadata.get("namespace"))
        applied: dict[str, Any] = self._request(
            "PATCH",
            path,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            # As UTF-8 JSON: the API server reads apply patches as YAML, which refuses the
            # surrogate escapes (\ud83c) ASCII-only JSON writes for characters such as emoji.
            body=json.dumps(obj, ensure_ascii=False).encode(),
            content_type="application/apply-patch+yaml",
        )
        return applied

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Creates the object (``metadata.generateName`` allowed)."""
        path = KINDS[obj["kind"]].path(namespace=obj["metadata"].get("namespace"))
        created: dict[str, Any] = self._request(
            "POST", path, query=[("fieldManager", FIELD_MANAGER)], body=obj
        )
        return created

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replaces the object as a whole (its resourceVersion guards against races)."""
        metadata = obj["metadata"]
        path = KINDS[obj["kind"]].path(metadata["name"], metadata.get("namespace"))
        replaced: dict[str, Any] = self._request(
            "PUT", path, query=[("fieldManager", FIELD_MANAGER)], body=obj
        )
        return replaced

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """Deletes the object in the background; False when it was already gone."""
        try:
            self._request(
                "DELETE",
                KINDS[kind].path(name, namespace),
                body={"propagationPolicy": "Background"},
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def evict(self, name: str, namespace: str) -> int:
        """Asks the Eviction API to evict a pod, which honours PodDisruptionBudgets; the
        HTTP status: 201 evicted, 404 already gone, 429 refused for now by a budget."""
        try:
            self._request(
                "POST",
                KINDS["Pod"].path(name, namespace) + "/eviction",
                body={
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": name, "namespace": namespace},
                },
            )
        except ApiException as error:
            if error.status in (404, 429):
                return int(error.status)
            raise
        return 201

    def patch_status(
        self,
        kind: str,
        name: str,
        status: dict[str, Any],
        namespace: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patches the status subresource; with ``resource_version``, only if the
        object is still at that version (409 Conflict otherwise). Returns the object."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        patched: dict[str, Any] = self._request(
            "PATCH",
            KINDS[kind].path(name, namespace) + "/status",
            body=body,
            content_type="application/merge-patch+json",
        )
        return patched

    def list_with_version(
        self, kind: str, label_selector: str | None = None
    ) -> tuple[Iterator[dict[str, Any]], str]:
        """The objects of a kind in every namespace, :data:`LIST_PAGE` at a time, and the
        resourceVersion to watch from. The first page is read now (a kind that is not
        served raises here), the next ones as the objects are iterated, where a failed
        page raises (an expired continue token, 410, after a compaction)."""
        query = [("limit", str(LIST_PAGE))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        path = KINDS[kind].path()
        first: dict[str, Any] = self._request("GET", path, query=query)

        def pages(page: dict[str, Any]) -> Iterator[dict[str, Any]]:
            while True:
                yield from page.get("items") or []
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    return
                page = self._request("GET", path, query=[*query, ("continue", token)])

        return pages(first), first["metadata"]["resourceVersion"]

    def watch(
        self,
        kind: str,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events (type, object) of a kind in every namespace from ``resource_version``,
        read one line at a time until the server ends the watch."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        request = self._client.param_serialize(
            "GET",
            KINDS[kind].path(),
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        silence = watch_inactivity(timeout_seconds)
        path = KINDS[kind].path()
        try:
            response = self._client.call_api(*request, _request_timeout=(10, silence))
            if response.status != 200:
                response.read()  # type: ignore[no-untyped-call]
                raise ApiException(http_resp=response)
            pending = b""
            for chunk in response.response.stream(65536, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        yield event["type"], event["object"]
        except urllib3.exceptions.ReadTimeoutError:
            raise ApiUnavailableError(
                f"watch {path}", f"nothing came for {silence:.0f} s"
            ) from None
        except urllib3.exceptions.HTTPError as error:
            raise _unavailable("watch", path, error) from None

    def serves(self, kind: str) -> bool:
        """Whether the API server serves the kind now (discovery cached for a while)."""
        target = KINDS[kind]
        now = time.monotonic()
        with self._lock:
            cached = self._served.get(target.group_version)
        if cached is None or now - cached[0] > self._discovery_ttl:
            try:
                listed = self._request("GET", target.path().rsplit("/", 1)[0])
                plurals = frozenset(r["name"] for r in listed.get("resources", []))
            except ApiException as error:
                if error.status != 404:
                    raise
                plurals = frozenset()
            cached = (now, plurals)
            with self._lock:
                self._served[target.group_version] = cached
        return target.plural in cached[1]
