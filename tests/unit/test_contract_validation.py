"""The published contracts are valid: AsyncAPI (AsyncAPI CLI from npm), OpenAPI (openapi-spec-validator).

The AsyncAPI CLI is pinned in deploy/contracts/package-lock.json and installed by ``./salesops test``
(``npm ci``); without node these tests skip, saying so. The OpenAPI document of reporting's HTTP API is
generated from the code like the AsyncAPI ones (``./salesops contracts``) and must be current.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from deploy.local.processes import PROCESSES
from tests.conftest import printed_document

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "deploy" / "contracts"
CLI = TOOLS / "node_modules" / ".bin" / "asyncapi"
SERVICES = PROCESSES  # the services and the O10 department feeds
OPENAPI = ROOT / "docs" / "openapi" / "reporting.json"


def asyncapi_validate(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the AsyncAPI CLI (npm) cannot run here")
    assert CLI.exists(), "AsyncAPI CLI missing: run `npm ci` in deploy/contracts (./salesops test does)"
    # Analytics off and no network: the CLI would otherwise try to send usage metrics.
    settings = home / "analytics.json"
    settings.write_text(json.dumps({"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "ci"}))
    env = {
        **os.environ,
        "ASYNCAPI_METRICS_CONFIG_PATH": str(settings),
        "CI": "true",
        "SUPPRESS_NO_CONFIG_WARNING": "1",
        "HOME": str(home),
    }
    return subprocess.run(
        [str(CLI), "validate", str(path), "--fail-severity", "error"],
        cwd=TOOLS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_committed_asyncapi_document_is_valid(service: str, tmp_path: Path) -> None:
    result = asyncapi_validate(ROOT / "docs" / "asyncapi" / f"{service}.json", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
    # No warnings either (an undefined keyword, an unused component...): only the note on the version.
    assert not re.search(r"[1-9]\d* warnings?", result.stdout), result.stdout


def test_asyncapi_validation_rejects_an_invalid_document(tmp_path: Path) -> None:
    document = json.loads((ROOT / "docs" / "asyncapi" / "customers.json").read_text())
    operation = next(iter(document["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/no-such-channel"}  # a dangling reference
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    result = asyncapi_validate(broken, tmp_path)
    assert result.returncode != 0, result.stdout


def test_committed_openapi_document_is_current() -> None:
    committed = json.loads(OPENAPI.read_text())
    assert printed_document("reporting", "openapi") == committed, "stale contract: run ./salesops contracts"


def test_committed_openapi_document_is_valid() -> None:
    document: dict[str, Any] = json.loads(OPENAPI.read_text())
    validate_openapi(document)
    assert "/api/reports/distributor-monthly" in document["paths"]


def test_openapi_validation_rejects_an_invalid_document() -> None:
    document: dict[str, Any] = copy.deepcopy(json.loads(OPENAPI.read_text()))
    first = next(iter(document["paths"].values()))
    next(iter(first.values()))["responses"] = {"200": {"content": {}}}  # a response needs a description
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(document)
