"""Talk to Label Studio over HTTP: both token kinds, retries with backoff, typed errors.

Label Studio has two token kinds: legacy tokens (``Authorization: Token T``) and personal access
tokens, a refresh JWT exchanged at ``/api/token/refresh`` for an access token that lives 5 minutes.
A JWT has three dot-separated parts; a legacy token is a plain hex string, so the shape tells them apart.
"""

from __future__ import annotations

import time
from typing import Any
from xml.etree import ElementTree

import httpx

from labelwise.errors import LabelwiseError


class LabelStudioError(LabelwiseError):
    """Label Studio refused a call, could not be reached, or holds a project labelwise cannot mirror."""


class ClassificationConfig:
    """A single-image classification labeling config: one ``<Image>`` and one ``<Choices>`` on it."""

    def __init__(self, choice_name: str, image_name: str, image_key: str, classes: list[str]) -> None:
        self.choice_name = choice_name
        self.image_name = image_name
        self.image_key = image_key  # the task data field holding the image URL
        self.classes = classes


def parse_label_config(xml: str, where: str = "label_config") -> ClassificationConfig:
    """Read a labeling config; anything but one ``<Choices>`` on one ``<Image>`` is refused, naming why."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise LabelStudioError(f"{where}: not valid XML: {exc}") from None
    images = [e for e in root.iter() if e.tag == "Image"]
    choices = [e for e in root.iter() if e.tag == "Choices"]
    others = sorted({e.tag for e in root.iter() if e.tag.endswith("Labels") or e.tag in ("TextArea", "Rating")})
    if len(images) != 1 or len(choices) != 1 or others:
        raise LabelStudioError(
            f"{where}: labelwise mirrors single-image classification only (one <Choices> on one <Image>); "
            f"found {len(images)} <Image>, {len(choices)} <Choices>" + (f", and {', '.join(others)}" if others else "")
        )
    image, choice = images[0], choices[0]
    if choice.get("toName") != image.get("name"):
        raise LabelStudioError(f"{where}: <Choices> points at {choice.get('toName')!r}, not the <Image>")
    value = image.get("value", "")
    if not value.startswith("$"):
        raise LabelStudioError(f"{where}: <Image value={value!r}> does not name a task field ($field)")
    classes = [c.get("value") or c.get("alias") or "" for c in choice if c.tag == "Choice"]
    if len(classes) < 2 or any(not c for c in classes):
        raise LabelStudioError(f"{where}: <Choices> needs at least two named <Choice> values")
    return ClassificationConfig(choice.get("name", ""), image.get("name", ""), value[1:], classes)


class LabelStudioClient:
    """A small httpx client with auth, retry and backoff for one Label Studio server."""

    def __init__(self, url: str, token: str, *, retries: int = 6, backoff: float = 0.5, timeout: float = 60) -> None:
        self.url = url.rstrip("/")
        self.token = token.strip()
        self.retries = retries
        self.backoff = backoff
        self.is_refresh_token = self.token.count(".") == 2
        self._access: str | None = None
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _auth_header(self, renew: bool = False) -> dict[str, str]:
        if not self.is_refresh_token:
            return {"Authorization": f"Token {self.token}"}
        if self._access is None or renew:
            response = self._send("POST", "/api/token/refresh", json={"refresh": self.token}, auth=False)
            if response.status_code != 200:
                raise LabelStudioError(
                    f"{self.url}: the personal access token was refused ({response.status_code}): {response.text[:200]}"
                )
            self._access = response.json()["access"]
        return {"Authorization": f"Bearer {self._access}"}

    def _send(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> httpx.Response:
        """One call; connection errors and 5xx answers (a restarting server) are retried with backoff."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                headers = self._auth_header() if auth else {}
                response = self._http.request(method, path, headers=headers, **kwargs)
                if auth and response.status_code == 401 and self.is_refresh_token:
                    response = self._http.request(method, path, headers=self._auth_header(renew=True), **kwargs)
                if response.status_code < 500 or attempt == self.retries:
                    return response
            except httpx.TransportError as exc:
                if attempt == self.retries:
                    raise LabelStudioError(f"{self.url}: cannot reach Label Studio: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 10)
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One authenticated call with retries; the answer unchecked (see ``check``)."""
        return self._send(method, path, **kwargs)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A JSON API call; an error answer becomes a ``LabelStudioError`` naming the call."""
        return self.check(self._send(method, path, **kwargs), method, path)

    def check(self, response: httpx.Response, method: str, path: str) -> Any:
        """The JSON of an answer, or a ``LabelStudioError`` naming the call and its status."""
        if response.status_code in (401, 403):
            raise LabelStudioError(
                f"{self.url}{path}: the token was refused ({response.status_code}): {response.text[:200]}"
            )
        if response.status_code >= 400:
            raise LabelStudioError(f"{method} {self.url}{path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def download(self, url: str) -> bytes:
        """A task's image: Label Studio's own URLs (uploads, local files) with auth, others without."""
        if url.startswith("/"):
            response = self._send("GET", url)
        elif url.startswith(self.url):
            response = self._send("GET", url[len(self.url) :])
        elif url.startswith(("http://", "https://")):
            try:
                response = httpx.get(url, timeout=60, follow_redirects=True)
            except httpx.HTTPError as exc:
                raise LabelStudioError(f"{url}: cannot download: {exc}") from None
        else:
            raise LabelStudioError(f"{url!r}: not an image URL labelwise can fetch")
        if response.status_code != 200:
            raise LabelStudioError(f"{url}: download answered {response.status_code}")
        return response.content
