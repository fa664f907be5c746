#!/usr/bin/env python3
"""Drive headless Chromium over page.html to write or read an IndexedDB store.

  run.py write OUTDIR          fresh profile, the page writes two databases and
                               dumps every record; OUTDIR/db is a copy of
                               Chrome's LevelDB store, OUTDIR/dump.json the
                               page's own dump
  run.py read DBDIR DUMP.json  a fresh profile whose IndexedDB directory for
                               the page's origin is a copy of DBDIR (written from
                               the same port, IDB_PORT, default 37591); the page
                               only reads and dumps every record

Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), run
with --headless=new --no-sandbox and its own --user-data-dir. The page is
served by http.server on 127.0.0.1; it POSTs its dump to /dump. Chromium is
then stopped (SIGTERM to the process group we started, SIGKILL after 10 s).
Only the standard library is used.
"""
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("CHROMIUM", "chromium")


class Handler(http.server.BaseHTTPRequestHandler):
    dump = None
    got = threading.Event()

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith("/page.html"):
            body = open(os.path.join(HERE, "page.html"), "rb").read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        Handler.dump = json.loads(data)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        Handler.got.set()


# The origin, port included, is part of the store's keys (database names are
# stored under "http_127.0.0.1_PORT@1"): a store is only found again by a
# page served from the port that wrote it. The fixtures were written on this
# one.
PORT = int(os.environ.get("IDB_PORT", "37591"))


def serve():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def run_chromium(profile, url, timeout=120, linger=2):
    Handler.got.clear()
    Handler.dump = None
    p = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--no-default-browser-check",
         "--disable-features=IndexedDBCompressValuesWithSnappy",
         "--user-data-dir=" + profile, url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    ok = Handler.got.wait(timeout)
    # Give Chrome time to finish writing what the page committed (and, with a
    # longer linger, to run its tasks after the last connection closed).
    time.sleep(linger)
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    if not ok:
        sys.exit("chromium did not report within %d s" % timeout)
    if not Handler.dump.get("ok"):
        sys.exit("page failed: %s" % Handler.dump.get("error"))
    return Handler.dump


def idb_dir(profile, port):
    return os.path.join(profile, "Default", "IndexedDB",
                        "http_127.0.0.1_%d.indexeddb.leveldb" % port)


def main():
    mode = sys.argv[1]
    srv, port = serve()
    with tempfile.TemporaryDirectory(prefix="idb-profile-") as profile:
        small = mode == "write" and os.environ.get("IDB_TMPFS", "1") == "1"
        if small:
            # LevelDB's write buffer in Chromium follows the size of the
            # disk (1 MiB on a small one): a 10 MiB tmpfs makes it flush a
            # table after ~1 MiB of writes, which keeps the fixture small.
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", profile],
                           check=True)
        try:
            run(mode, profile, port)
        finally:
            if small:
                subprocess.run(["umount", profile], check=True)
    srv.shutdown()


def run(mode, profile, port):
    if True:
        if mode == "write":
            out = sys.argv[2]
            run_chromium(profile, "http://127.0.0.1:%d/page.html?mode=write1" % port,
                         linger=float(os.environ.get("IDB_LINGER", "20")))
            dump = run_chromium(profile, "http://127.0.0.1:%d/page.html?mode=write2" % port)
            src = idb_dir(profile, port)
            os.makedirs(out, exist_ok=True)
            dst = os.path.join(out, "db")
            if os.path.exists(dst):
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
            for junk in ("LOCK", "LOG", "LOG.old"):
                p = os.path.join(dst, junk)
                if os.path.exists(p):
                    os.remove(p)
            with open(os.path.join(out, "dump.json"), "w") as f:
                json.dump(dump["dump"], f, sort_keys=True, indent=1)
        elif mode == "read":
            src, out = sys.argv[2], sys.argv[3]
            # A first visit registers the origin's storage (Chrome ignores an
            # IndexedDB directory its storage bookkeeping does not know);
            # the store is then put in place of what that visit created.
            url = "http://127.0.0.1:%d/page.html?mode=read" % port
            run_chromium(profile, "http://127.0.0.1:%d/page.html?mode=init" % port)
            dst = idb_dir(profile, port)
            if os.path.exists(dst):
                shutil.rmtree(dst)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copytree(src, dst)
            dump = run_chromium(profile, url)
            with open(out, "w") as f:
                json.dump(dump["dump"], f, sort_keys=True, indent=1)
        else:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
