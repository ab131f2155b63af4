"""A real Label Studio for the tests: the pinned PyPI package in a virtual environment of its own
(cached between runs, since its pins must not touch labelwise's), started on loopback with a data
folder of the test run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

VERSION = "1.23.2"
VENV = Path(os.environ.get("LABELWISE_LS_VENV", Path.home() / ".cache" / "labelwise" / f"label-studio-{VERSION}-venv"))
USER, PASSWORD = "annie@example.com", "labelwise-test-pw"
LEGACY_TOKEN = "0123456789abcdef0123456789abcdef01234567"


def ensure_venv() -> Path:
    """The cached environment, installed on first use (a minute or two); a marker says it is complete."""
    marker = VENV / ".complete"
    if marker.exists():
        return VENV
    if VENV.exists():
        shutil.rmtree(VENV)  # an interrupted install
    VENV.parent.mkdir(parents=True, exist_ok=True)
    python = shutil.which("python3") or sys.executable
    subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", f"label-studio=={VERSION}"], check=True)
    marker.touch()
    return VENV


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabelStudio:
    url: str
    legacy_token: str
    refresh_token: str
    email: str
    process: subprocess.Popen

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.legacy_token}"}, timeout=120)


def _enable_legacy_tokens(venv: Path, data_dir: Path, env: dict[str, str]) -> None:
    """New organisations refuse legacy tokens; Label Studio's own Django shell turns them on."""
    package = next((venv / "lib").glob("python3*/site-packages/label_studio"))
    code = (
        "from organizations.models import Organization\n"
        "from jwt_auth.models import JWTSettings\n"
        "for org in Organization.objects.all():\n"
        "    s, _ = JWTSettings.objects.get_or_create(organization=org)\n"
        "    s.legacy_api_tokens_enabled = True\n"
        "    s.save()\n"
    )
    subprocess.run([str(venv / "bin" / "python"), "manage.py", "shell", "-c", code], cwd=package, env=env,
                   check=True, capture_output=True, timeout=180)  # fmt: skip


def start_label_studio(data_dir: Path, timeout: float = 240) -> LabelStudio:
    venv = ensure_venv()
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "core.settings.label_studio",
    }
    env.pop("PYTHONPATH", None)  # labelwise's tree must not shadow Label Studio's packages
    log = open(data_dir / "label-studio.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [str(venv / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
         "--username", USER, "--password", PASSWORD, "--user-token", LEGACY_TOKEN],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"Label Studio exited: see {data_dir / 'label-studio.log'}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"Label Studio did not answer within {timeout} s: see {data_dir / 'label-studio.log'}")
        time.sleep(1)
    _enable_legacy_tokens(venv, data_dir, env)
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {LEGACY_TOKEN}"}, timeout=60) as api:
        refresh = api.post("/api/token/").json()["token"]
    return LabelStudio(url, LEGACY_TOKEN, refresh, USER, process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="choice" toName="image">
{choices}
  </Choices>
</View>"""


def classification_config(classes: list[str]) -> str:
    return CONFIG.format(choices="\n".join(f'    <Choice value="{c}"/>' for c in classes))


def choice_result(name: str) -> list[dict]:
    return [{"from_name": "choice", "to_name": "image", "type": "choices", "value": {"choices": [name]}}]
