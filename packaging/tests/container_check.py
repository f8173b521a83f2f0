"""Checks packaging/container/{Containerfile,compose.yaml} against each other and the
repository, and writes what the runtime stage would run (container-test.sh runs it).

    python3 container_check.py ROOT OUTDIR

Writes OUTDIR/env (KEY=VALUE lines: the image's ENV, then the compose service's
environment), OUTDIR/argv (ENTRYPOINT + the compose command, one per line) and
OUTDIR/healthcheck (the HEALTHCHECK command). Exits non-zero naming each problem."""
import json
import os
import re
import shlex
import sys

import yaml

root, out = sys.argv[1], sys.argv[2]
container_dir = os.path.join(root, "packaging", "container")
problems = []


def instructions(path):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.strip().partition(" ")
        lines.append((word.upper(), rest.strip()))
        current = ""
    return lines


def exec_form(text):
    return json.loads(text) if text.startswith("[") else ["/bin/sh", "-c", text]


stages, runtime, copied = [], None, []
env, entrypoint, cmd, healthcheck, user, volumes, exposed = {}, [], [], None, "root", [], set()
for word, rest in instructions(os.path.join(container_dir, "Containerfile")):
    if word == "FROM":
        parts = rest.split()
        stages.append(parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None)
        runtime = parts[0]
        env, user = {}, "root"
    elif word == "COPY":
        args = shlex.split(rest)
        source_stage = next((a.split("=", 1)[1] for a in args if a.startswith("--from=")), None)
        paths = [a for a in args if not a.startswith("--")]
        if source_stage is not None:
            if source_stage not in stages[:-1]:
                problems.append(f"COPY --from={source_stage}: no earlier stage of that name")
        else:
            for source in paths[:-1]:
                copied.append(source)
                if not os.path.exists(os.path.join(root, source)):
                    problems.append(f"COPY {source}: not in the repository (the build context)")
    elif word == "ENV":
        for pair in shlex.split(rest):
            key, _, value = pair.partition("=")
            env[key] = value
    elif word == "USER":
        user = rest
    elif word == "VOLUME":
        volumes += exec_form(rest) if rest.startswith("[") else rest.split()
    elif word == "EXPOSE":
        exposed |= {int(p.split("/")[0]) for p in rest.split()}
    elif word == "HEALTHCHECK":
        healthcheck = rest[rest.index("CMD") + 3:].strip()
    elif word == "ENTRYPOINT":
        entrypoint = exec_form(rest)
    elif word == "CMD":
        cmd = exec_form(rest)

if not re.match(r"debian:bookworm-slim", runtime or ""):
    problems.append(f"the runtime stage is {runtime}, not debian:bookworm-slim")
if user in ("root", "0", ""):
    problems.append("the runtime stage runs as root")
data_dir = env.get("HEARTH_DATA_DIR")
if data_dir not in volumes:
    problems.append(f"HEARTH_DATA_DIR {data_dir} is not a VOLUME ({volumes})")
listen_ports = {int(env[k].rsplit(":", 1)[1]) for k in ("HEARTH_HTTP", "HEARTH_MQTT", "HEARTH_WS")
                if k in env}
if listen_ports != exposed:
    problems.append(f"EXPOSE {sorted(exposed)} is not the listeners' ports {sorted(listen_ports)}")
if not healthcheck or "/healthz" not in healthcheck or \
        f":{env.get('HEARTH_HTTP', '').rsplit(':', 1)[-1]}/" not in healthcheck:
    problems.append(f"the HEALTHCHECK does not ask the HTTP listener's /healthz: {healthcheck}")

compose = yaml.safe_load(open(os.path.join(container_dir, "compose.yaml")))
services = compose["services"]
hub, db = services["hearth"], services["db"]
build = hub["build"]
if os.path.realpath(os.path.join(container_dir, build["context"])) != os.path.realpath(root):
    problems.append(f"build context {build['context']} is not the repository's root")
if not os.path.isfile(os.path.join(container_dir, build["context"], build["dockerfile"])):
    problems.append(f"dockerfile {build['dockerfile']} not found from the context")
if not str(db.get("image", "")).startswith("postgres:15"):
    problems.append(f"the database is {db.get('image')}, not PostgreSQL 15")
if "healthcheck" not in db:
    problems.append("the database service has no healthcheck")
if hub.get("depends_on", {}).get("db", {}).get("condition") != "service_healthy":
    problems.append("hearth does not wait for a healthy database")
for mapping in hub.get("ports", []):
    container_port = int(str(mapping).rsplit(":", 1)[-1].split("/")[0])
    if container_port not in exposed:
        problems.append(f"compose publishes {mapping}, but the image exposes {sorted(exposed)}")
mounts = [str(v).split(":")[1] for v in hub.get("volumes", [])]
if data_dir not in mounts:
    problems.append(f"no volume on the data dir {data_dir} (volumes: {mounts})")
for volume in hub.get("volumes", []) + db.get("volumes", []):
    name = str(volume).split(":")[0]
    if not name.startswith(("/", ".")) and name not in (compose.get("volumes") or {}):
        problems.append(f"volume {name} is not declared")
environment = hub.get("environment", {})
database = environment.get("HEARTH_DATABASE", "")
match = re.match(r"postgres://([^:]+):[^@]+@([^:/]+):(\d+)/(\w+)$", database)
db_env = db.get("environment", {})
if not match:
    problems.append(f"HEARTH_DATABASE is not a postgres:// URL: {database}")
elif (match.group(1), match.group(2), match.group(4)) != \
        (db_env.get("POSTGRES_USER"), "db", db_env.get("POSTGRES_DB")):
    problems.append(f"HEARTH_DATABASE {database} does not name the db service's user and database")

ignored = {line.strip() for line in open(os.path.join(root, ".dockerignore"))
           if line.strip() and not line.startswith("#")}
for source in copied:
    if source.rstrip("/") in ignored:
        problems.append(f"COPY {source}: .dockerignore leaves it out of the build context")
for needed in ("target", "**/node_modules", ".git"):
    if needed not in ignored:
        problems.append(f".dockerignore does not leave out {needed} (the build context would carry it)")

if problems:
    sys.exit("\n".join(problems))
with open(os.path.join(out, "env"), "w") as file:
    for key, value in {**env, **environment}.items():
        file.write(f"{key}={value}\n")
with open(os.path.join(out, "argv"), "w") as file:
    for arg in entrypoint + (hub.get("command") or cmd):
        file.write(arg + "\n")
with open(os.path.join(out, "healthcheck"), "w") as file:
    file.write(healthcheck + "\n")
print(f"ok: Containerfile ({len(stages)} stages) and compose.yaml agree: "
      f"ports {sorted(exposed)}, data {data_dir}, runs {' '.join(entrypoint + (hub.get('command') or cmd))}")
