"""Starts a real userd (the binary in USERD_BIN, default target/debug/userd) for the SDK tests."""
import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SECRET = "sdk-test-secret-0123456789abcdef0123"


class Userd:
    def __init__(self):
        self.bin = os.environ.get("USERD_BIN", str(ROOT / "target" / "debug" / "userd"))
        self.dir = tempfile.mkdtemp(prefix="userd-sdk-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("USERD_")}
        env.update(USERD_AUTH__HS256_SECRET=SECRET, USERD_LOG__LEVEL="warn")
        # scripts/test.sh runs the suite again on PostgreSQL, with a database of its own.
        if os.environ.get("USERD_SDK_POSTGRES_URL"):
            env.update(USERD_STORAGE__BACKEND="postgres",
                       USERD_STORAGE__POSTGRES__URL=os.environ["USERD_SDK_POSTGRES_URL"])
        self.env = env
        self.proc = subprocess.Popen(
            [self.bin, "serve", "--bind", "127.0.0.1:0", "--data-dir", os.path.join(self.dir, "data")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, cwd=self.dir)
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on http://"), line
        self.url = line[len("listening on "):]
        # Native gRPC is served on the same port.
        self.grpc_target = self.url[len("http://"):]

    def token(self, *roles, sub="sdk-admin", org="org-a"):
        args = [self.bin, "token", "--sub", sub, "--org", org]
        for role in roles:
            args += ["--role", role]
        out = subprocess.run(args, env=self.env, cwd=self.dir, capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


@pytest.fixture(scope="session")
def userd():
    server = Userd()
    yield server
    server.stop()
