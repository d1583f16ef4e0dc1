#!/usr/bin/env python3
"""The local package registries the install tests use instead of the live ones.

    scripts/registries.py fill DIR --npm SPEC... --pypi SPEC...   (once, from the live registries)
    scripts/registries.py serve DIR [--port N]                     (prints its URL, then serves)

DIR/npm holds an npm registry's files: for every package in the resolved tree of the npm specs,
its metadata (DIR/npm/NAME/packument.json, cut down to the versions in the tree, its tarball
addresses written as `{registry}/NAME/-/FILE`) and those tarballs. DIR/pypi holds a PEP 503
simple index (DIR/pypi/simple/NAME/index.html) over the wheels `pip download` fetched for the
PyPI specs, in DIR/pypi/files. DIR/complete records what was filled; a fill whose specs match it
does nothing.

`serve` answers on loopback as the real registries do, so npm and pip install from it with
`--registry URL/npm/` and `--index-url URL/pypi/simple`:
  GET /npm/NAME (`@scope%2fname` as npm asks)   the metadata, its tarballs at this address
  GET /npm/NAME/-/FILE.tgz                      a tarball
  GET /pypi/simple/PROJECT/, /pypi/files/FILE   the index page and a wheel
and 404 for anything else, a package it does not hold among them. It stops when its standard
input closes, so a test run that started it cannot leave it behind.
"""

import argparse
import http.server
import threading
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

NPM = "https://registry.npmjs.org"
# npm's own "corgi" metadata: what an install reads, a fraction of the full document's size.
ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"


def fetch(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def lock_tree(specs, work):
    """The (name, version) of every package npm would install for specs, from its lockfile."""
    with open(os.path.join(work, "package.json"), "w") as manifest:
        json.dump({"name": "harbor-registry-fill", "private": True}, manifest)
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund", "--silent", "--prefix", work, *specs],
        check=True,
    )
    with open(os.path.join(work, "package-lock.json")) as lock:
        packages = json.load(lock)["packages"]
    tree = set()
    for path, entry in packages.items():
        if not path or "version" not in entry or entry.get("link"):
            continue
        name = entry.get("name") or path.rsplit("node_modules/", 1)[-1]
        tree.add((name, entry["version"]))
    return tree


def fill_npm(specs, into):
    with tempfile.TemporaryDirectory() as work:
        tree = lock_tree(specs, work)
    wanted = {}
    for name, version in tree:
        wanted.setdefault(name, set()).add(version)
    for name, versions in sorted(wanted.items()):
        document = json.loads(fetch(f"{NPM}/{urllib.parse.quote(name, safe='@')}", ABBREVIATED))
        folder = os.path.join(into, name)
        os.makedirs(os.path.join(folder, "-"), exist_ok=True)
        kept = {}
        for version in versions:
            meta = document["versions"][version]
            tarball = meta["dist"]["tarball"]
            file = tarball.rsplit("/", 1)[-1]
            target = os.path.join(folder, "-", file)
            if not os.path.exists(target):
                body = fetch(tarball)
                if hashlib.sha1(body).hexdigest() != meta["dist"]["shasum"]:
                    sys.exit(f"{name}@{version}: the tarball does not match its shasum")
                with open(target + ".part", "wb") as out:
                    out.write(body)
                os.replace(target + ".part", target)
            meta["dist"]["tarball"] = f"{{registry}}/{name}/-/{file}"
            kept[version] = meta
        latest = document.get("dist-tags", {}).get("latest")
        if latest not in kept:
            # The newest kept version, in the registry's own (publishing) order.
            latest = [v for v in document["versions"] if v in kept][-1]
        cut = {"name": name, "dist-tags": {"latest": latest}, "versions": kept}
        if "modified" in document:
            cut["modified"] = document["modified"]
        with open(os.path.join(folder, "packument.json"), "w") as out:
            json.dump(cut, out)
    return sum(len(v) for v in wanted.values())


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def fill_pypi(specs, into):
    files = os.path.join(into, "files")
    os.makedirs(files, exist_ok=True)
    # Only wheels: an sdist would need its build backend from the index as well.
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", files, *specs],
        check=True,
    )
    projects = {}
    for file in sorted(os.listdir(files)):
        if file.endswith(".whl"):
            projects.setdefault(normalize(file.split("-", 1)[0]), []).append(file)
    simple = os.path.join(into, "simple")
    shutil.rmtree(simple, ignore_errors=True)
    for project, wheels in projects.items():
        os.makedirs(os.path.join(simple, project))
        links = []
        for wheel in wheels:
            with open(os.path.join(files, wheel), "rb") as body:
                digest = hashlib.sha256(body.read()).hexdigest()
            href = html.escape(f"../../files/{wheel}#sha256={digest}")
            links.append(f'<a href="{href}">{html.escape(wheel)}</a><br>')
        with open(os.path.join(simple, project, "index.html"), "w") as page:
            page.write("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    with open(os.path.join(simple, "index.html"), "w") as page:
        page.write("".join(f'<a href="{p}/">{p}</a><br>\n' for p in sorted(projects)))
    return sum(len(w) for w in projects.values())


def fill(args):
    record = os.path.join(args.dir, "complete")
    want = json.dumps({"npm": sorted(args.npm), "pypi": sorted(args.pypi)})
    if os.path.exists(record) and open(record).read() == want:
        return
    shutil.rmtree(args.dir, ignore_errors=True)
    npm = fill_npm(args.npm, os.path.join(args.dir, "npm"))
    pypi = fill_pypi(args.pypi, os.path.join(args.dir, "pypi"))
    with open(record, "w") as out:
        out.write(want)
    print(f"filled the local registries in {args.dir}: {npm} npm package versions, {pypi} wheels", file=sys.stderr)


def file_for(root, path):
    """The file a request path names and its content type, or None outside the folder."""
    path = urllib.parse.unquote(path.split("?", 1)[0])
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return None
    local = os.path.join(root, *parts)
    if parts[0] == "npm" and "-" in parts[1:]:
        return local, "application/octet-stream"
    if parts[0] == "npm":
        return os.path.join(local, "packument.json"), "application/json"
    if parts[:2] == ["pypi", "simple"]:
        return os.path.join(local, "index.html"), "text/html"
    if parts[0] == "pypi":
        return local, "application/octet-stream"
    return None


def serve(args):
    root = os.path.abspath(args.dir)
    if not os.path.exists(os.path.join(root, "complete")):
        sys.exit(f"{root} is not filled: run scripts/setup --test")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            found = file_for(root, self.path)
            try:
                with open(found[0], "rb") as file:
                    body = file.read()
            except (TypeError, OSError):
                body, found = b'{"error":"Not found"}', None
            if found and found[1] == "application/json":
                base = f"http://{self.headers.get('Host', self.server.address)}/npm"
                body = body.replace(b"{registry}", base.encode())
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", found[1] if found else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.address = "%s:%d" % server.server_address
    print(f"http://{server.address}", flush=True)

    def until_stdin_closes():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    filling = commands.add_parser("fill")
    filling.add_argument("dir")
    filling.add_argument("--npm", nargs="*", default=[])
    filling.add_argument("--pypi", nargs="*", default=[])
    serving = commands.add_parser("serve")
    serving.add_argument("dir")
    serving.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    fill(args) if args.command == "fill" else serve(args)


if __name__ == "__main__":
    main()
