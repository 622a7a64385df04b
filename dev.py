#!/usr/bin/env python3
"""The two commands of the README, for a fresh machine with Python 3.11+ and Node 20+.

    python3 dev.py start   install into .venv, build the front end, migrate, load demo data
                           on first run, and serve on http://localhost:8000/ with a worker
    python3 dev.py test    install the test dependencies and run every check and test

Extra arguments after ``test`` go to pytest (e.g. ``python3 dev.py test -m "not e2e"``).
``DATABASE_URL=postgres://…`` runs the tests on PostgreSQL (the database is created if missing).
Only the standard library is used here, so it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMPS = VENV / "aftersales-stamps"
MANIFEST = ROOT / "aftersales" / "web" / "static" / "dist" / ".vite" / "manifest.json"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def fail(message: str) -> None:
    print(f"dev.py: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def run(command: list[str], **kwargs: object) -> None:
    result = subprocess.run(command, cwd=ROOT, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        fail(f"'{' '.join(str(c) for c in command)}' failed with exit code {result.returncode}.")


def digest(*paths: Path) -> str:
    hasher = hashlib.sha256()
    for path in paths:
        if path.is_file():
            hasher.update(path.read_bytes())
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                hasher.update(str(file.relative_to(ROOT)).encode())
                hasher.update(file.read_bytes())
    return hasher.hexdigest()


def up_to_date(name: str, value: str) -> bool:
    stamp = STAMPS / name
    return stamp.exists() and stamp.read_text() == value


def remember(name: str, value: str) -> None:
    STAMPS.mkdir(parents=True, exist_ok=True)
    (STAMPS / name).write_text(value)


def check_python() -> None:
    # This file must run on an old Python long enough to say so.
    if sys.version_info < (3, 11):  # noqa: UP036
        found = ".".join(str(part) for part in sys.version_info[:2])
        fail(f"Python 3.11 or newer is needed (found {found}).")


def install_python(extras: str) -> None:
    if not PYTHON.exists():
        say("Creating the virtual environment in .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = digest(ROOT / "pyproject.toml") + extras
    if up_to_date("python", wanted):
        return
    say("Installing Python packages" + (" (with test tools)" if extras else ""))
    quiet = {"stdout": subprocess.DEVNULL}
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], **quiet)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "-e", f".{extras}"], **quiet)
    remember("python", wanted)


def build_front_end() -> None:
    npm = shutil.which("npm")
    if npm is None:
        fail("Node.js 20+ with npm is needed to build the front end (https://nodejs.org).")
    lock = digest(ROOT / "package.json", ROOT / "package-lock.json")
    if not (ROOT / "node_modules").exists() or not up_to_date("npm", lock):
        say("Installing front-end packages (npm ci)")
        run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"])
        remember("npm", lock)
    sources = digest(ROOT / "frontend", ROOT / "vite.config.js", ROOT / "package-lock.json")
    if not MANIFEST.exists() or not up_to_date("build", sources):
        say("Building the front end (vite build)")
        run([npm, "run", "build", "--silent"])
        remember("build", sources)


def ensure_postgres_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    code = (
        "import os, psycopg, dj_database_url\n"
        "c = dj_database_url.parse(os.environ['DATABASE_URL'])\n"
        "args = dict(host=c['HOST'] or None, port=c['PORT'] or None, user=c['USER'] or None,\n"
        "            password=c['PASSWORD'] or None, dbname='postgres', autocommit=True)\n"
        "with psycopg.connect(**{k: v for k, v in args.items() if v is not None}) as conn:\n"
        "    if not conn.execute('SELECT 1 FROM pg_database WHERE datname=%s',\n"
        "                        (c['NAME'],)).fetchone():\n"
        "        conn.execute('CREATE DATABASE \"%s\"' % c['NAME'].replace('\"', ''))\n"
        "        print('==> Created PostgreSQL database', c['NAME'])\n"
    )
    run([str(PYTHON), "-c", code])


def start(arguments: list[str]) -> None:
    install_python("")
    build_front_end()
    ensure_postgres_database()
    aftersales = BIN / "aftersales"
    os.execv(str(aftersales), [str(aftersales), "run", *arguments])


def test(arguments: list[str]) -> None:
    install_python("[test]")
    build_front_end()
    ensure_postgres_database()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aftersales.settings"}
    env.setdefault("AFTERSALES_DATA_DIR", str(ROOT / "var" / "test"))
    say("Lint (ruff)")
    run([str(BIN / "ruff"), "check", "aftersales", "tests", "bench", "dev.py"], env=env)
    say("Types (mypy)")
    run([str(BIN / "mypy"), "aftersales"], env=env)
    say("Migrations are complete (makemigrations --check)")
    run([str(PYTHON), "-m", "aftersales", "makemigrations", "--check", "--dry-run"], env=env)
    say("Translations are compiled and complete")
    run([str(PYTHON), "-m", "aftersales", "check_translations"], env=env)
    say("Tests" + (" on PostgreSQL" if "postgres" in env.get("DATABASE_URL", "") else " on SQLite"))
    result = subprocess.run(
        [str(PYTHON), "-m", "pytest", "--create-db", *arguments], cwd=ROOT, env=env, check=False
    )
    sys.exit(result.returncode)


def main() -> None:
    check_python()
    if len(sys.argv) < 2 or sys.argv[1] not in {"start", "test"}:
        print(__doc__)
        sys.exit(2)
    command, arguments = sys.argv[1], sys.argv[2:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    {"start": start, "test": test}[command](arguments)


if __name__ == "__main__":
    main()
