"""A real Neo4j 5 server on loopback, built from ``tools/neo4j-server`` with Maven and started like the embedded one.

The Maven module pins Neo4j Community 5.26 and holds one small launcher class (the embedded DBMS with its
Bolt connector). :func:`ensure_launcher` builds it once into a cache outside the repository
(``$TECHMATCH_NEO4J_CACHE``, default ``~/.cache/techmatch/neo4j-server/<version>-<hash of the sources>``);
a changed pom or launcher gets a new directory, an unchanged one is reused. :class:`Neo4jGraphServer`
runs it with the life cycle of :class:`~graph.server.EmbeddedGraphServer`: one server per data directory
(lock, PID file, orphan clean-up), a generated password in ``secret`` (0600) that reaches the JVM on its
standard input, never its command line, owner-only data files, a readiness check and a clean stop on
exit, Ctrl-C and SIGTERM. The launcher also stops itself when its standard input closes, so a killed
parent leaves no JVM behind.

Run ``python -m graph.neo4j_server build`` to build (or check) the launcher, e.g. in CI before the tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from graph.exceptions import ServerStartError
from graph.files import private_dir
from graph.server import EmbeddedGraphServer

#: the Maven module (pom.xml and the launcher's Java source), inside the repository
LAUNCHER_SOURCE = Path(__file__).resolve().parents[1] / "tools" / "neo4j-server"
MAIN_CLASS = "techmatch.Neo4jLauncher"
#: Java versions Neo4j 5.26 supports
SUPPORTED_JAVA = (17, 21)
_BUILT_MARKER = "built.ok"


def neo4j_version() -> str:
    """The Neo4j version the Maven module pins."""
    pom = (LAUNCHER_SOURCE / "pom.xml").read_text(encoding="utf-8")
    match = re.search(r"<neo4j\.version>([^<]+)</neo4j\.version>", pom)
    if not match:
        raise ServerStartError(f"no <neo4j.version> in {LAUNCHER_SOURCE / 'pom.xml'}")
    return match.group(1).strip()


def cache_root() -> Path:
    if os.environ.get("TECHMATCH_NEO4J_CACHE"):
        return Path(os.environ["TECHMATCH_NEO4J_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "techmatch" / "neo4j-server"


def _sources_hash() -> str:
    digest = hashlib.sha256()
    files = [LAUNCHER_SOURCE / "pom.xml", *sorted((LAUNCHER_SOURCE / "src").rglob("*.java"))]
    for path in files:
        digest.update(path.relative_to(LAUNCHER_SOURCE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def launcher_dir() -> Path:
    """Where the launcher for the current sources is (or will be) built."""
    return cache_root() / f"{neo4j_version()}-{_sources_hash()}"


def launcher_classpath(directory: Path) -> str:
    return f"{directory / 'classes'}{os.pathsep}{directory / 'lib'}/*"


def launcher_built(directory: Path | None = None) -> bool:
    return ((directory or launcher_dir()) / _BUILT_MARKER).exists()


def find_maven() -> str:
    mvn = os.environ.get("TECHMATCH_MAVEN") or shutil.which("mvn")
    if not mvn:
        raise ServerStartError(
            "Maven (mvn) not found: install Maven 3.8+ and a Java 17 JDK (./test.sh does so as root), "
            "or set TECHMATCH_MAVEN"
        )
    return mvn


def java_major(java: Path | str) -> int:
    """The major version of a Java runtime (0 when it does not answer)."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> Path:
    """A Java 17 or 21 runtime: ``TECHMATCH_NEO4J_JAVA``, then ``JAVA_HOME``, then ``java`` on the PATH."""
    candidates: list[Path] = []
    if os.environ.get("TECHMATCH_NEO4J_JAVA"):
        candidates.append(Path(os.environ["TECHMATCH_NEO4J_JAVA"]))
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path))
    seen: list[str] = []
    for java in candidates:
        major = java_major(java)
        if major in SUPPORTED_JAVA:
            return java
        seen.append(f"{java} (Java {major or '?'})")
    found = "; found " + ", ".join(seen) if seen else ""
    raise ServerStartError(
        "Neo4j 5 needs a Java 17 or 21 runtime: install one or set TECHMATCH_NEO4J_JAVA" + found
    )


def ensure_launcher(say: Callable[[str], None] | None = None) -> Path:
    """Build the launcher with Maven unless the cache already holds this version; returns its directory."""
    target = launcher_dir()
    if launcher_built(target):
        return target
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    log_file = root / f"build-{target.name}.log"
    with open(root / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build of the same version waits, then reuses
        if launcher_built(target):
            return target
        mvn = find_maven()
        java = find_java()
        if say:
            say(f"building the Neo4j {neo4j_version()} launcher with Maven into {target} (once; log {log_file})")
        partial = root / f".{target.name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        env = dict(os.environ, JAVA_HOME=str(java.resolve().parents[1]))
        cmd = [mvn, "-B", "-q", "-f", str(LAUNCHER_SOURCE / "pom.xml"), f"-Dtechmatch.build.dir={partial}", "compile"]
        started = time.monotonic()
        with open(log_file, "wb") as out:
            try:
                rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=1800).returncode
            except subprocess.TimeoutExpired:
                rc = -1
        if rc != 0 or not (partial / "classes" / "techmatch" / "Neo4jLauncher.class").exists():
            shutil.rmtree(partial, ignore_errors=True)
            raise ServerStartError(
                f"building the Neo4j launcher with Maven failed (exit {rc}): {_tail(log_file)}", str(log_file)
            )
        (partial / _BUILT_MARKER).write_text(f"neo4j {neo4j_version()} built in {time.monotonic() - started:.0f}s\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def _tail(path: Path, lines: int = 4) -> str:
    try:
        text = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:])


class Neo4jGraphServer(EmbeddedGraphServer):
    """A Neo4j Community 5 server on loopback under ``data_dir/neo4j``; user ``neo4j``, password in ``secret``.

    Community Edition holds one user database: ``database`` names it when the directory is first
    created (``initial.dbms.default_database``).
    """

    USER = "neo4j"
    BACKEND = "neo4j"
    USES_HTTP = False

    def __init__(
        self,
        data_dir: Path,
        database: str = "neo4j",
        heap_mb: int = 1024,
        bolt_port: int | None = None,
        start_timeout_s: float = 180.0,
        java: Path | None = None,
        pagecache_mb: int = 128,
        launcher: Path | None = None,
    ) -> None:
        super().__init__(
            data_dir, database=database, heap_mb=heap_mb, bolt_port=bolt_port, start_timeout_s=start_timeout_s,
            java=java,
        )
        self.pagecache_mb = pagecache_mb
        self._launcher = launcher

    @property
    def home(self) -> Path:
        """Neo4j's own directory (configuration, databases, transaction logs, its debug log)."""
        return self.data_dir / "neo4j"

    @property
    def ready_file(self) -> Path:
        return self.home / "run" / "ready"

    def _java_runtime(self) -> Path:
        return self._java or find_java()

    def _command(self, java: Path, bolt_port: int, http_port: int, password: str) -> list[str]:
        launcher = self._launcher or ensure_launcher(lambda msg: print(msg, file=sys.stderr))
        heap = f"{self.heap_mb}m"
        return [
            str(java),
            f"-Xms{min(self.heap_mb, 256)}m",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:+ExitOnOutOfMemoryError",
            "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "-Dfile.encoding=UTF-8",
            "-cp",
            launcher_classpath(launcher),
            MAIN_CLASS,
            "--home",
            str(self.home),
            "--port",
            str(bolt_port),
            "--database",
            self.database,
            "--pagecache",
            f"{self.pagecache_mb}m",
        ]

    def _stdin_payload(self, password: str) -> bytes | None:
        return (password + "\n").encode()

    def _before_launch(self) -> None:
        private_dir(self.home)
        self.ready_file.unlink(missing_ok=True)

    def _worth_querying(self, bolt_port: int) -> bool:
        # Before the launcher has set the password a login would fail, and Neo4j locks a user out
        # for a while after a few failed logins: wait for the launcher's word first.
        return self.ready_file.exists()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["build"]:
        print("usage: python -m graph.neo4j_server build   # build (or find cached) the Neo4j 5 launcher")
        return 2
    try:
        directory = ensure_launcher(print)
    except ServerStartError as exc:
        print(f"Neo4j launcher: error: {exc}", file=sys.stderr)
        return 1
    print(f"Neo4j {neo4j_version()} launcher ready in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
