"""The team server's OpenAPI document, checked by independent tools: it is a valid OpenAPI
3.1 document (openapi-spec-validator), and what a running `voxmark serve` answers conforms
to the schemas the document gives (jsonschema, JSON Schema 2020-12 as OpenAPI 3.1 uses)."""

import json
import subprocess
import urllib.request

import jsonschema
import pytest
from openapi_spec_validator import validate

PASSWORD = "a long enough password"


@pytest.fixture
def server(run, voxmark, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    run("phantom", "--size", "16,12,8", "-o", data / "c1.nii.gz")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"labels": [{"value": 1, "name": "body", "color": [1, 0, 0]}]}))
    proj = tmp_path / "proj"
    run("project", "init", proj, "--schema", schema)
    run("project", "add-cases", proj, data / "c1.nii.gz")
    p = subprocess.run([voxmark, "serve", "user", "add", "lea", "--role", "lead", "--project", str(proj)],
                       env={"VOXMARK_PASSWORD": PASSWORD}, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    srv = subprocess.Popen([voxmark, "serve", "--project", str(proj), "--listen", "127.0.0.1:0",
                            "--data-root", str(data)], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    line = srv.stdout.readline()
    assert "listening on http://" in line, line
    yield line.strip().rsplit("listening on ", 1)[1]
    srv.kill()
    srv.wait()


def call(url, path, token=None, body=None):
    req = urllib.request.Request(url + path, method="POST" if body is not None else "GET")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
        req.data = json.dumps(body).encode()
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_the_openapi_document_is_valid_and_describes_the_answers(server):
    spec = call(server, "/api/v1/openapi.json")
    validate(spec)  # raises on an invalid OpenAPI document
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, ops in spec["paths"].items():
        assert path.startswith("/api/v1/"), path
        for method, op in ops.items():
            assert op.get("responses"), f"{method} {path} documents no responses"

    def conforms(instance, schema):
        # The document's own components, so that its $refs resolve.
        jsonschema.validate(instance, {**schema, "components": spec["components"]},
                            cls=jsonschema.Draft202012Validator)

    def response_schema(path, method="get"):
        return spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]

    login = call(server, "/api/v1/login", body={"user": "lea", "password": PASSWORD})
    conforms(login, response_schema("/api/v1/login", "post"))
    token = login["token"]
    for path in ["/api/v1/me", "/api/v1/project", "/api/v1/status", "/api/v1/cases",
                 "/api/v1/users", "/api/v1/audit"]:
        conforms(call(server, path, token), response_schema(path))
    # A case listing with a claimed slot and a null annotator both conform.
    rows = call(server, "/api/v1/cases", token)
    assert rows and rows[0]["annotator"] is None
