"""playbooks/awx_job_templates.yml: the AWX/Tower objects as code, checked without a controller.

Every operations playbook has a job template and every template's playbook exists; the
surveys follow the controller's rules (JobTemplateSurveySpec._validate_spec_data of AWX 24,
the line of the awx.awx version the EE pins) and ask only for variables their playbook
reads; the tasks use options the installed awx.awx modules have; bad input stops the run
before a single request reaches the controller; and a run against a stand-in for the
controller's REST API (an in-memory store, not AWX: it holds what it is given) creates each
object once, links them by the names the playbook uses, and a second run changes nothing.
"""

import itertools
import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
PLAYBOOK = PLAYBOOKS / "awx_job_templates.yml"
SURVEYS = PLAYBOOKS / "vars" / "awx_surveys.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
ANSIBLE_DOC = Path(sys.executable).with_name("ansible-doc")

GOOD_VARS = ["-e", "awx_project_scm_url=https://git.example.org/stormclouds/platform.git",
             "-e", "awx_ee_image=registry.example.org/stormclouds-platform-ee:0.1.0"]
TOKEN = "stand-in-token"

# awx/main/constants.py SURVEY_TYPE_MAPPING: the question types and their default's type.
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                "integer": int, "float": (float, int)}
# Inputs that hold a secret in the credential types used; none may have a value in code.
SECRET_INPUTS = {"password", "ssh_key_data", "ssh_key_unlock", "become_password", "vault_password",
                 "gpg_private_key", "gpg_passphrase"}
# Answers the playbooks read with `| bool`, not as names of their own.
BOOLEAN_CHOICES = {"true", "false", "yes", "no"}
TASK_KEYWORDS = {"name", "loop", "loop_control", "no_log", "when", "vars", "register", "changed_when", "failed_when",
                 "tags", "environment", "become", "delegate_to", "check_mode", "ignore_errors", "until", "retries",
                 "delay", "args", "notify", "run_once"}


class _AnsibleLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """Reads Ansible's !unsafe (and !vault) scalars as plain strings."""


for _tag in ("!unsafe", "!vault"):
    _AnsibleLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def _load(path):
    return yaml.load(path.read_text(), Loader=_AnsibleLoader)


def _play():
    plays = _load(PLAYBOOK)
    assert len(plays) == 1, "one play: the checks come first, before any controller call"
    return plays[0]


def _module(task):
    (module,) = [key for key in task if key not in TASK_KEYWORDS]
    return module


def _tasks_of(module):
    return [task for task in _play()["tasks"] if _module(task) == module]


def _surveys():
    return _load(SURVEYS)["awx_surveys"]


def _job_templates():
    (task,) = _tasks_of("awx.awx.job_template")
    loop_var = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", task["loop"]).group(1)
    return _play()["vars"][loop_var]


def _short(template):
    return template["name"].split(" - ", 1)[1]


def _awx_survey_errors(survey):
    """What the controller refuses when the survey is posted, and what it would store
    differently from what was sent (a rerun would then always report a change)."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(field), kind):
            errors.append(f"{field} must be a {kind.__name__}")
    if errors or not survey["spec"]:
        return errors or ["spec has no questions"]
    variables = set()
    for idx, question in enumerate(survey["spec"]):
        where = f"question {idx} ({question.get('variable')})"
        for field in ("type", "question_name", "variable"):
            if not isinstance(question.get(field), str) or not question[field]:
                errors.append(f"{where}: {field} must be a non-empty string")
        if not isinstance(question.get("required"), bool):
            errors.append(f"{where}: required must be true or false")
        if not re.fullmatch(r"[A-Za-z_]\w*", str(question.get("variable"))):
            errors.append(f"{where}: variable is not a variable name")
        if question.get("variable") in variables:
            errors.append(f"{where}: variable asked twice")
        variables.add(question.get("variable"))
        qtype = question.get("type")
        if qtype not in SURVEY_TYPES:
            errors.append(f"{where}: type {qtype!r} is not one of {', '.join(SURVEY_TYPES)}")
            continue
        default = question.get("default", "")
        if default != "" and (not isinstance(default, SURVEY_TYPES[qtype]) or isinstance(default, bool)):
            errors.append(f"{where}: default {default!r} is not a {qtype} default")
        for limit in ("min", "max"):
            if limit in question and (not isinstance(question[limit], int) or isinstance(question[limit], bool)):
                errors.append(f"{where}: {limit} must be an integer")
        if qtype in ("integer", "float") and isinstance(default, (int, float)) and not isinstance(default, bool):
            if not question.get("min", default) <= default <= question.get("max", default):
                errors.append(f"{where}: default {default} outside min..max")
        if qtype == "password" and default != "":
            errors.append(f"{where}: a password default would be a secret in code")
        if qtype in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            if isinstance(choices, str):
                lines = choices.split("\n")
                if any(not line.strip() for line in lines):
                    errors.append(f"{where}: blank choice lines are dropped by the controller")
                choices = lines
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
                errors.append(f"{where}: choices must be a list (or newline-separated string) of non-empty strings")
                continue
            if len(set(choices)) != len(choices):
                errors.append(f"{where}: a choice is listed twice")
            defaults = default.split("\n") if default else []
            if qtype == "multiplechoice" and len(defaults) > 1:
                errors.append(f"{where}: a multiplechoice question has one default")
            if any(not line.strip() for line in defaults):
                errors.append(f"{where}: blank default lines are dropped by the controller")
            if not set(defaults) <= set(choices):
                errors.append(f"{where}: default {default!r} is not among the choices {choices}")
    return errors


def _code(path):
    """A file's text without its comment lines: a variable named only in a comment is not read."""
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))


def _tasks_in(items):
    for item in items or []:
        yield item
        for key in ("block", "rescue", "always"):
            yield from _tasks_in(item.get(key))


def _reader_texts(playbook):
    """The playbook's code, the playbooks it imports and the argument specs of the roles it runs."""
    texts = [_code(playbook)]
    for play in _load(playbook):
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            texts += _reader_texts(playbook.parent / imported)
            continue
        roles = [role["role"] if isinstance(role, dict) else role for role in play.get("roles", [])]
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            for task in _tasks_in(play.get(section)):
                for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
                    if key in task:
                        roles.append(task[key]["name"])
        for role in roles:
            spec = ROOT / "roles" / role.removeprefix("stormclouds.platform.") / "meta" / "argument_specs.yml"
            if spec.is_file():
                texts.append(_code(spec))
    return texts


def _env(**extra):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CONTROLLER_", "TOWER_"))}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.update(extra)
    return env


def _run_playbook(*args, env):
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), str(PLAYBOOK), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL, timeout=600)
    return proc, proc.stdout + proc.stderr


def _recap(output):
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


# --- The stand-in controller -------------------------------------------------------------

_SINGULAR = {"organizations": "organization", "execution_environments": "execution_environment",
             "credential_types": "credential_type", "credentials": "credential", "projects": "project",
             "project_updates": "project_update", "inventories": "inventory", "inventory_sources": "inventory_source",
             "job_templates": "job_template", "workflow_job_templates": "workflow_job_template",
             "workflow_job_template_nodes": "workflow_job_template_node"}
_UNIFIED = ("job_templates", "projects", "inventory_sources", "workflow_job_templates")
_LINKS = ("credentials", "success_nodes", "failure_nodes", "always_nodes", "labels", "instance_groups")
# Where a name must be unique (the controller's unique-together constraints).
_SCOPE = {"inventory_sources": "inventory", "workflow_job_template_nodes": "workflow_job_template",
          "credentials": "credential_type"}
_REFERENCES = {"organization": ("organizations",), "credential_type": ("credential_types",),
               "credential": ("credentials",), "execution_environment": ("execution_environments",),
               "default_environment": ("execution_environments",), "project": ("projects",),
               "source_project": ("projects",), "inventory": ("inventories",),
               "workflow_job_template": ("workflow_job_templates",), "unified_job_template": _UNIFIED}
REVISION = "0123456789abcdef0123456789abcdef01234567"


class StandInController:
    """The controller's REST API as far as the awx.awx modules use it: lists filtered by
    query, objects created, patched and linked, surveys validated like AWX does, project syncs
    that finish at once. It stores what it is given: a check of this side, not of AWX."""

    def __init__(self):
        self.objects = {endpoint: {} for endpoint in _SINGULAR}
        self.links = {}
        self.surveys = {}
        self.requests = []
        self._ids = itertools.count(1)
        self._add("organizations", {"name": "Default"})
        for name, kind in (("Machine", "ssh"), ("OpenStack", "cloud"), ("Vault", "vault")):
            self._add("credential_types", {"name": name, "kind": kind, "managed": True})
        controller = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                controller.requests.append((self.command, self.path, body))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    status, data = 401, {"detail": "Authentication credentials were not provided."}
                else:
                    status, data = controller.handle(self.command, self.path, body)
                payload = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _add(self, endpoint, fields):
        oid = next(self._ids)
        url = f"/api/v2/{endpoint}/{oid}/"
        related = {sub: f"{url}{sub}/" for sub in ("survey_spec", "update") + _LINKS}
        self.objects[endpoint][oid] = dict(fields, id=oid, type=_SINGULAR[endpoint], url=url, related=related,
                                           summary_fields={})
        return self.objects[endpoint][oid]

    def named(self, endpoint, name):
        (obj,) = [obj for obj in self.objects[endpoint].values() if obj.get("name") == name]
        return obj

    def linked(self, obj, sub):
        return self.links.get((obj["url"], sub), [])

    def _refusal(self, endpoint, fields, oid=None):
        for field, endpoints in _REFERENCES.items():
            value = fields.get(field)
            if value is not None and not any(value in self.objects[e] for e in endpoints):
                return {field: [f"Invalid pk \"{value}\" - object does not exist."]}
        key = "identifier" if endpoint == "workflow_job_template_nodes" else "name"
        scope = _SCOPE.get(endpoint, "organization")
        for other in self.objects[endpoint].values():
            if other["id"] != oid and other.get(key) == fields.get(key) and other.get(scope) == fields.get(scope):
                return {"__all__": [f"{_SINGULAR[endpoint]} with this {key} already exists."]}
        return None

    def _listing(self, endpoint, query):
        pool = [o for e in _UNIFIED for o in self.objects[e].values()] if endpoint == "unified_job_templates" \
            else list(self.objects[endpoint].values())
        either = {k[4:]: v for k, v in query.items() if k.startswith("or__")}
        every = {k: v for k, v in query.items() if not k.startswith("or__") and k not in ("page", "page_size")}
        found = [o for o in pool if (not either or any(str(o.get(k)) == v for k, v in either.items()))
                 and all(str(o.get(k)) == v for k, v in every.items())]
        return 200, {"count": len(found), "next": None, "previous": None, "results": found}

    def _survey(self, method, owner, body):
        if method == "GET":
            return 200, self.surveys.get(owner, {})
        if method == "DELETE":
            self.surveys.pop(owner, None)
            return 200, {}
        errors = _awx_survey_errors(body)
        if errors:
            return 400, {"error": "; ".join(errors)}
        self.surveys[owner] = json.loads(json.dumps(body))
        return 200, {}

    def handle(self, method, path, body):  # pylint: disable=too-many-return-statements
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        segments = parts.path.strip("/").split("/")[2:]  # after api/v2
        endpoint = segments[0]
        if len(segments) == 1:
            if method == "GET":
                return self._listing(endpoint, query)
            refusal = self._refusal(endpoint, body)
            if refusal:
                return 400, refusal
            obj = self._add(endpoint, body)
            if endpoint == "projects":
                obj["scm_revision"] = REVISION
                update = self._add("project_updates", {"status": "successful", "failed": False, "finished": "now",
                                                       "scm_revision": REVISION})
                return 201, dict(obj, summary_fields={"current_update": {"id": update["id"]}})
            return 201, obj
        obj = self.objects[endpoint].get(int(segments[1]))
        if obj is None:
            return 404, {"detail": "Not found."}
        if len(segments) == 2:
            if method == "PATCH":
                refusal = self._refusal(endpoint, dict(obj, **body), oid=obj["id"])
                if refusal:
                    return 400, refusal
                obj.update(body)
            return 200, obj
        sub = segments[2]
        if sub == "survey_spec":
            return self._survey(method, obj["url"], body)
        if sub == "update" and method == "POST":
            update = self._add("project_updates", {"status": "successful", "failed": False, "finished": "now",
                                                   "scm_revision": obj["scm_revision"]})
            return 202, {"id": update["id"], "url": update["url"]}
        if sub in _LINKS:
            ids = self.links.setdefault((obj["url"], sub), [])
            if method == "GET":
                return 200, {"count": len(ids), "next": None, "previous": None, "results": [{"id": i} for i in ids]}
            if body.get("disassociate"):
                ids.remove(body["id"])
            elif body["id"] not in ids:
                ids.append(body["id"])
            return 204, None
        return 404, {"detail": f"{sub} is not served by the stand-in"}


@pytest.fixture(name="controller")
def fixture_controller():
    with StandInController() as controller:
        yield controller


# --- The tests ---------------------------------------------------------------------------

def test_syntax_check():
    proc = subprocess.run([str(ANSIBLE_PLAYBOOK), "--syntax-check", str(PLAYBOOK)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_operations_playbook_has_a_job_template():
    operations = {p.name for p in PLAYBOOKS.glob("*.yml")} - {PLAYBOOK.name}
    templated = {Path(t["playbook"]).name for t in _job_templates()}
    assert operations <= templated, f"playbooks/ without a job template: {sorted(operations - templated)}"
    assert len(templated) == len(_job_templates()), "two job templates run the same playbook"


@pytest.mark.parametrize("template", _job_templates(), ids=_short)
def test_the_job_template_playbook_exists(template):
    assert template["playbook"].startswith("playbooks/"), "the project is the repository: paths from its root"
    assert (ROOT / template["playbook"]).is_file(), (
        f"{template['playbook']} (job template {_short(template)!r}) is not in the repository: "
        "the controller refuses a job template whose playbook its project sync did not find")


@pytest.mark.parametrize("name", sorted(_surveys()))
def test_the_survey_is_valid_for_awx(name):
    assert _awx_survey_errors(_surveys()[name]) == []


def test_every_survey_belongs_to_a_job_template():
    used = {t["survey"] for t in _job_templates() if "survey" in t}
    assert used <= set(_surveys()), f"job templates name unknown surveys: {sorted(used - set(_surveys()))}"
    assert set(_surveys()) <= used, f"surveys no job template uses: {sorted(set(_surveys()) - used)}"


@pytest.mark.parametrize("template", [t for t in _job_templates() if "survey" in t], ids=_short)
def test_the_survey_asks_only_for_variables_its_playbook_reads(template):
    playbook = ROOT / template["playbook"]
    assert playbook.is_file(), f"{template['playbook']} is not in the repository: nothing reads the survey's answers"
    texts = _reader_texts(playbook)
    unread = [q["variable"] for q in _surveys()[template["survey"]]["spec"]
              if not any(re.search(rf"(?<!\w){q['variable']}(?!\w)", text) for text in texts)]
    assert unread == [], f"{template['playbook']} (and its roles' argument specs) never read {unread}"
    # A choice the playbook does not know would pass the survey and fail (or be ignored) in the run.
    unknown = [(q["variable"], choice) for q in _surveys()[template["survey"]]["spec"]
               for choice in (q["choices"].split("\n") if isinstance(q.get("choices"), str) else q.get("choices", []))
               if choice not in BOOLEAN_CHOICES and not any(re.search(rf"(?<!\w){re.escape(choice)}(?!\w)", t) for t in texts)]
    assert unknown == [], f"{template['playbook']} never names these survey choices: {unknown}"


def test_the_workflow_runs_provision_then_site_with_provision_survey():
    (task,) = _tasks_of("awx.awx.workflow_job_template")
    args = task["awx.awx.workflow_job_template"]
    assert re.fullmatch(r"\{\{\s*awx_surveys\.provision\s*\}\}", args["survey_spec"])
    nodes = {node["identifier"]: node for node in args["workflow_nodes"]}
    chain = ["provision"]
    while nodes[chain[-1]].get("related", {}).get("success_nodes"):
        chain.append(nodes[chain[-1]]["related"]["success_nodes"][0]["identifier"])
    assert chain == ["provision", "inventory_sync", "site"]
    assert nodes["inventory_sync"]["unified_job_template"]["type"] == "inventory_source"


def test_the_tasks_use_fqcns_and_options_the_installed_awx_modules_have():
    modules = sorted({_module(task) for task in _play()["tasks"]})
    assert all(m.startswith(("awx.awx.", "ansible.builtin.")) for m in modules), modules
    awx = [m for m in modules if m.startswith("awx.awx.")]
    proc = subprocess.run([str(ANSIBLE_DOC), "-j", *awx], env=_env(), capture_output=True, text=True, check=True,
                          stdin=subprocess.DEVNULL)
    docs = {name: doc["doc"]["options"] for name, doc in json.loads(proc.stdout).items()}
    assert sorted(docs) == awx

    def known(options):
        return set(options) | {alias for option in options.values() for alias in option.get("aliases", [])}

    for task in _play()["tasks"]:
        module = _module(task)
        if module in docs:
            unknown = set(task[module]) - known(docs[module])
            assert not unknown, f"{task['name']}: {module} has no option {sorted(unknown)}"
    (task,) = _tasks_of("awx.awx.workflow_job_template")
    node_options = docs["awx.awx.workflow_job_template"]["workflow_nodes"]["suboptions"]
    for node in task["awx.awx.workflow_job_template"]["workflow_nodes"]:
        assert set(node) <= known(node_options), node
        assert set(node["unified_job_template"]) <= known(node_options["unified_job_template"]["suboptions"]), node


def test_no_secret_in_code():
    play_vars = _play()["vars"]
    for credential in play_vars["__awx_credentials"]:
        assert not SECRET_INPUTS & set(credential["inputs"]), credential["name"]
    fields = play_vars["__awx_gpg_inputs"]["fields"]
    assert all(field["secret"] for field in fields)
    assert not [q for s in _surveys().values() for q in s["spec"] if q["type"] == "password"], \
        "secrets come from credentials, not survey answers stored on the template"
    (task,) = _tasks_of("awx.awx.credential")
    assert task["no_log"] is True and task["awx.awx.credential"]["state"] == "exists"


@pytest.mark.parametrize(("args", "message"), [
    (GOOD_VARS[2:], "awx_project_scm_url is required"),
    (["-e", "awx_project_scm_url=platform", *GOOD_VARS[2:]], "given: 'platform'"),
    (GOOD_VARS[:2], "Set awx_ee_image (required"),
    ([*GOOD_VARS, "-e", "awx_organization="], "awx_organization and awx_name_prefix (not empty)"),
    ([*GOOD_VARS, "-e", "awx_inventory_source_path=/etc/hosts"], "awx_inventory_source_path (a YAML file"),
], ids=["no-scm-url", "scm-url-not-a-url", "no-ee-image", "empty-organization", "absolute-inventory-path"])
def test_bad_input_fails_before_any_controller_call(controller, args, message):
    proc, output = _run_playbook(*args, env=_env(CONTROLLER_HOST=controller.url, CONTROLLER_OAUTH_TOKEN=TOKEN))
    assert proc.returncode != 0, output
    assert message in " ".join(output.split()), output
    assert controller.requests == [], "the controller was called before the input was checked"


@pytest.mark.parametrize("env", [{}, {"CONTROLLER_HOST": "http://127.0.0.1:9"}], ids=["no-host", "no-credentials"])
def test_missing_controller_connection_fails_before_any_controller_call(env):
    proc, output = _run_playbook(*GOOD_VARS, env=_env(**env))
    assert proc.returncode != 0, output
    assert "Set CONTROLLER_HOST (the AWX/Tower URL) and CONTROLLER_OAUTH_TOKEN" in " ".join(output.split()), output
    assert "TASK [Check the organization]" not in output


def test_a_run_creates_every_object_once_and_a_rerun_changes_nothing(controller):
    env = _env(CONTROLLER_HOST=controller.url, CONTROLLER_OAUTH_TOKEN=TOKEN)
    proc, output = _run_playbook(*GOOD_VARS, env=env)
    assert proc.returncode == 0, output
    assert _recap(output)["changed"] > 0

    projects = list(controller.objects["projects"].values())
    assert [(p["scm_url"], p["scm_branch"]) for p in projects] == [(GOOD_VARS[1].split("=", 1)[1], "main")]
    credentials = {c["name"]: c for c in controller.objects["credentials"].values()}
    assert len(credentials) == 4
    assert not [c for c in credentials.values() if SECRET_INPUTS & set(c.get("inputs", {}))]
    source = controller.named("inventory_sources", "Storm Clouds Platform OpenStack servers")
    assert (source["source"], source["source_path"], source["update_on_launch"]) == \
        ("scm", "inventory/openstack/openstack.yml", True)
    assert source["source_project"] == projects[0]["id"]
    assert source["credential"] == credentials["Storm Clouds Platform OpenStack"]["id"]

    surveys = _surveys()
    for template in _job_templates():
        stored = controller.named("job_templates", f"Storm Clouds Platform - {_short(template)}")
        assert stored["playbook"] == template["playbook"]
        assert stored["survey_enabled"] is ("survey" in template)
        assert controller.surveys.get(stored["url"], {}) == surveys.get(template.get("survey"), {})
        names = {c["id"]: name for name, c in credentials.items()}
        assert len(controller.linked(stored, "credentials")) == len(template["credentials"])
        assert all(names[i].startswith("Storm Clouds Platform") for i in controller.linked(stored, "credentials"))

    workflow = controller.named("workflow_job_templates", "Storm Clouds Platform - Provision then site")
    assert controller.surveys[workflow["url"]] == surveys["provision"]
    nodes = {n["identifier"]: n for n in controller.objects["workflow_job_template_nodes"].values()}
    assert controller.linked(nodes["provision"], "success_nodes") == [nodes["inventory_sync"]["id"]]
    assert controller.linked(nodes["inventory_sync"], "success_nodes") == [nodes["site"]["id"]]
    assert nodes["inventory_sync"]["unified_job_template"] == source["id"]
    assert nodes["site"]["unified_job_template"] == controller.named("job_templates", "Storm Clouds Platform - Site")["id"]

    before = len(controller.requests)
    proc, output = _run_playbook(*GOOD_VARS, env=env)
    assert proc.returncode == 0, output
    assert _recap(output)["changed"] == 0, output
    writes = [(m, p) for m, p, _body in controller.requests[before:] if m != "GET"]
    assert all(m == "POST" and p.endswith("/update/") for m, p in writes), writes
