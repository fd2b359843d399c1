"""The catalogue: every nondeterministic or side-effecting name strict mode refuses.

This is data, reviewed like data. Each entry is a qualified name as a user
would write it in ``Policy.allow``, a :class:`Kind` (why it is refused: it
picks the explanation and the advice in the error message) and a
:class:`When` (which calls are refused: a clock read ``time.localtime()``
is, a conversion ``time.localtime(0)`` is not).

Entries name module attributes (``"time.time"``), methods of classes
(``"datetime.datetime.now"``: caught on every route to the class, see
``_compile``), classes whose construction is refused (``"socket.socket"``),
values whose mere access is refused (``"os.environ"``), and whole modules by
pattern (``"os.*"``: every function in ``os``, minus ``SAFE``). The sources
are ``shared/research/hazards.md``; ``tests/test_catalog.py`` checks that
every entry still resolves on the running CPython.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["ALIASES", "CATALOG", "METHOD_OWNERS", "SAFE", "Kind", "When"]


class Kind(enum.Enum):
    """Why a name is refused; the value is (what it does, what to do instead)."""

    CLOCK = ("reads the host clock", "Pass times in from the host")
    RANDOM = ("draws entropy from the host", "Use a seeded random.Random(seed)")
    HOST = (
        "reads a fact about the host (environment, process, machine, locale or time zone)",
        "Pass the value in from the host",
    )
    FILES = ("touches the file system", "Read or write files in the host and pass the data in")
    NETWORK = ("reaches the network", "Do network calls in the host")
    PROCESS = ("starts, signals or ends processes", "Run processes from the host")
    THREAD = ("starts threads or reads thread identity", "Run concurrent work from the host")
    STATE = (
        "changes process-wide state that the host shares",
        "Configure the process from the host",
    )
    IMPORT = (
        "loads code around the sandbox's import system",
        "Use an import statement or importlib.import_module(), which resolve in the sandbox",
    )
    POLICY = ("is denied by this sandbox's policy", "Remove it from Policy.deny")


class When(enum.Enum):
    """Which uses of a catalogued name are refused."""

    ALWAYS = "always"
    #: only a call whose first argument is missing or None (``localtime()``,
    #: ``localtime(None)``), the spelling of "now" or "the host's default"
    NO_ARGS = "no-args"
    #: only a call that gives no time tuple (``strftime(fmt)``)
    ONE_ARG = "one-arg"
    #: only construction or seeding without a seed (``Random()``, ``seed(None)``)
    UNSEEDED = "unseeded"
    #: only a call whose first argument (or ``file``/``filename``/``name``)
    #: is a path: ``ZipFile("a.zip")`` but not ``ZipFile(io.BytesIO(data))``
    PATH_ARG = "path-arg"
    #: only a call without a ``tz`` argument (naive local time)
    NO_TZ = "no-tz"
    #: only a call without an ``mtime`` (``gzip.compress(data)`` stamps the clock)
    NO_MTIME = "no-mtime"
    #: only on a naive datetime, which the host reads as its local time
    #: (``naive.timestamp()``); judged when the method is read from the instance
    NAIVE = "naive"
    #: the attribute itself is refused, not only calling it (``os.environ``)
    ACCESS = "access"


def _entries(kind: Kind, spec: str) -> dict[str, tuple[Kind, When]]:
    """Parse ``"name name:when ..."`` into catalogue entries."""
    out: dict[str, tuple[Kind, When]] = {}
    for item in spec.split():
        name, _, when = item.partition(":")
        out[name] = (kind, When(when) if when else When.ALWAYS)
    return out


CATALOG: Final[dict[str, tuple[Kind, When]]] = {
    **_entries(
        Kind.CLOCK,
        """
        os.times time.time time.time_ns time.monotonic time.monotonic_ns time.perf_counter
        time.perf_counter_ns time.process_time time.process_time_ns time.thread_time
        time.thread_time_ns time.clock_gettime time.clock_gettime_ns time.sleep
        time.localtime:no-args time.gmtime:no-args time.ctime:no-args time.asctime:no-args
        time.strftime:one-arg
        datetime.datetime.now datetime.datetime.utcnow datetime.datetime.today
        datetime.date.today _pydatetime.datetime.now _pydatetime.datetime.utcnow
        _pydatetime.datetime.today _pydatetime.date.today
        uuid.uuid1 uuid.uuid6 uuid.uuid7
        email.utils.formatdate:no-args email.utils.localtime:no-args
        gzip.compress:no-mtime sched.scheduler:no-args
        asyncio.sleep
        resource.getrusage
        """,
    ),
    **_entries(
        Kind.RANDOM,
        """
        random.* random._inst:access random.Random:unseeded random.Random.seed:unseeded
        random.SystemRandom _random.Random:unseeded _random.Random.seed:unseeded
        os.urandom os.getrandom secrets.* secrets.SystemRandom
        uuid.uuid4 uuid.uuid8:no-args _uuid.* email.utils.make_msgid
        """,
    ),
    **_entries(
        Kind.HOST,
        """
        os.environ:access os.environb:access posix.environ:access
        sys.argv:access sys.orig_argv:access sys.executable:access sys._base_executable:access
        sys.prefix:access sys.base_prefix:access sys.exec_prefix:access
        sys.base_exec_prefix:access sys.platlibdir:access sys.stdin:access
        sys.getallocatedblocks sys._current_frames sys._current_exceptions
        time.timezone:access time.altzone:access time.daylight:access time.tzname:access
        time.get_clock_info time.clock_getres time.mktime
        datetime.datetime.fromtimestamp:no-tz datetime.date.fromtimestamp
        datetime.datetime.astimezone:no-args datetime.datetime.timestamp:naive
        _pydatetime.datetime.timestamp:naive _pydatetime.datetime.fromtimestamp:no-tz
        _pydatetime.date.fromtimestamp _pydatetime.datetime.astimezone:no-args
        uuid.getnode
        os.getpid os.getppid os.getuid os.geteuid os.getgid os.getegid os.getgroups
        os.getlogin os.uname os.cpu_count os.process_cpu_count os.sched_getaffinity
        os.getcwd os.getcwdb os.getenv os.getenvb os.get_exec_path os.getloadavg
        os.get_terminal_size os.ctermid os.getpgrp os.getsid os.getpriority os.sysconf
        os.confstr os.device_encoding
        platform.* getpass.* pwd.* grp.* locale.*
        os.path.abspath os.path.realpath os.path.relpath os.path.expanduser
        os.path.expandvars
        """,
    ),
    **_entries(
        Kind.FILES,
        """
        os.* posix.* builtins.open builtins.input builtins.help
        io.open io.open_code io.FileIO _io.open _io.open_code _io.FileIO
        codecs.open tempfile.* tempfile.TemporaryDirectory tempfile.SpooledTemporaryFile
        shutil.* glob.* filecmp.* fileinput.* linecache.*
        os.path.exists os.path.lexists os.path.isfile os.path.isdir os.path.islink
        os.path.ismount os.path.isjunction os.path.isdevdrive os.path.getsize
        os.path.getmtime os.path.getatime os.path.getctime os.path.samefile
        os.path.sameopenfile
        mimetypes.init mimetypes.read_mime_types mmap.mmap sqlite3.connect
        shelve.open dbm.open dbm.whichdb
        gzip.open gzip.GzipFile:path-arg bz2.open bz2.BZ2File:path-arg lzma.open
        lzma.LZMAFile:path-arg zipfile.ZipFile:path-arg zipfile.Path:path-arg
        tarfile.open:path-arg tarfile.TarFile:path-arg wave.open:path-arg
        logging.FileHandler logging.handlers.RotatingFileHandler
        logging.handlers.TimedRotatingFileHandler logging.handlers.WatchedFileHandler
        importlib.resources.* importlib.metadata.*
        """,
    ),
    **_entries(
        Kind.NETWORK,
        """
        socket.* socket.socket _socket.* _socket.socket ssl.* ssl.SSLContext
        select.* select.epoll selectors.DefaultSelector selectors.SelectSelector
        selectors.PollSelector selectors.EpollSelector
        http.client.HTTPConnection http.client.HTTPSConnection urllib.request.*
        urllib.request.OpenerDirector urllib.robotparser.RobotFileParser
        smtplib.SMTP smtplib.SMTP_SSL smtplib.LMTP ftplib.FTP ftplib.FTP_TLS
        poplib.POP3 poplib.POP3_SSL imaplib.IMAP4 imaplib.IMAP4_SSL
        telnetlib.Telnet nntplib.NNTP xmlrpc.client.ServerProxy
        socketserver.TCPServer socketserver.UDPServer socketserver.UnixStreamServer
        socketserver.UnixDatagramServer http.server.HTTPServer
        http.server.ThreadingHTTPServer xmlrpc.server.SimpleXMLRPCServer
        asyncio.open_connection asyncio.start_server asyncio.open_unix_connection
        asyncio.start_unix_server
        """,
    ),
    **_entries(
        Kind.PROCESS,
        """
        os.system os.popen os.fork os.forkpty os.execv os.execve os.execl os.execle
        os.execlp os.execlpe os.execvp os.execvpe os.spawnv os.spawnve os.spawnl os.spawnle
        os.spawnlp os.spawnlpe os.spawnvp os.spawnvpe os.posix_spawn os.posix_spawnp
        os.kill os.killpg os.abort os._exit os.wait os.waitpid os.wait3 os.wait4 os.waitid
        subprocess.* subprocess.Popen _posixsubprocess.* multiprocessing.*
        multiprocessing.Process concurrent.futures.ProcessPoolExecutor pty.* webbrowser.*
        asyncio.create_subprocess_exec asyncio.create_subprocess_shell
        builtins.breakpoint builtins.exit builtins.quit
        ctypes.CDLL ctypes.PyDLL ctypes.cdll:access ctypes.pydll:access ctypes.pythonapi:access
        """,
    ),
    **_entries(
        Kind.THREAD,
        """
        threading.Thread threading.Timer threading.current_thread threading.currentThread
        threading.main_thread threading.enumerate threading.active_count
        threading.activeCount threading.get_ident threading.get_native_id
        threading.settrace threading.setprofile threading.settrace_all_threads
        threading.setprofile_all_threads threading.stack_size
        _thread.start_new_thread _thread.start_new _thread.start_joinable_thread
        _thread.get_ident _thread.get_native_id _thread.interrupt_main _thread.stack_size
        concurrent.futures.ThreadPoolExecutor asyncio.to_thread
        """,
    ),
    **_entries(
        Kind.STATE,
        """
        signal.* _signal.* atexit.* faulthandler.* resource.* gc.*
        sys.settrace sys.setprofile sys.setrecursionlimit sys.setswitchinterval
        sys.addaudithook sys.set_asyncgen_hooks sys.set_coroutine_origin_tracking_depth
        sys.setdlopenflags sys.set_int_max_str_digits sys.activate_stack_trampoline
        sys.deactivate_stack_trampoline sys._clear_type_cache sys.monitoring:access
        time.tzset locale.setlocale warnings.filterwarnings warnings.simplefilter
        warnings.resetwarnings logging.basicConfig logging.disable logging.setLoggerClass
        logging.setLogRecordFactory logging.captureWarnings logging.config.*
        codecs.register copyreg.pickle os.register_at_fork os.chdir os.fchdir os.umask
        os.nice os.putenv os.unsetenv
        """,
    ),
    **_entries(
        Kind.IMPORT,
        """
        importlib.util.spec_from_file_location importlib.util.spec_from_loader
        importlib.util.module_from_spec importlib.util.LazyLoader
        importlib.machinery.SourceFileLoader:access importlib.machinery.SourcelessFileLoader:access
        importlib.machinery.ExtensionFileLoader:access importlib.machinery.FileFinder:access
        importlib.machinery.PathFinder:access importlib.machinery.BuiltinImporter:access
        importlib.machinery.FrozenImporter:access importlib.machinery.NamespaceLoader:access
        importlib.machinery.WindowsRegistryFinder:access
        importlib._bootstrap.* importlib._bootstrap_external.* importlib.abc.*
        _imp.* _frozen_importlib.* _frozen_importlib_external.* zipimport.* imp.* runpy.*
        pkgutil.* pydoc.* code.* sys.path_importer_cache:access
        """,
    ),
}

# Classes whose methods are catalogued ("datetime.datetime.now"): attribute
# reads of those method names are routed through a check (see _compile).
METHOD_OWNERS: Final = frozenset(
    {
        "datetime.datetime",
        "datetime.date",
        "_pydatetime.datetime",
        "_pydatetime.date",
        "random.Random",
        "_random.Random",
    }
)

# Functions under a module pattern above that are pure and stay available.
SAFE: Final = frozenset(
    [
        "os.fspath",
        "os.fsencode",
        "os.fsdecode",
        "os.strerror",
        "os.WCOREDUMP",
        "os.WEXITSTATUS",
        "os.WIFCONTINUED",
        "os.WIFEXITED",
        "os.WIFSIGNALED",
        "os.WIFSTOPPED",
        "os.WSTOPSIG",
        "os.WTERMSIG",
        "os.waitstatus_to_exitcode",
        "os.major",
        "os.minor",
        "os.makedev",
        "signal.strsignal",
        "signal.valid_signals",
        "gc.is_tracked",
        "gc.is_finalized",
        "gc.isenabled",
        "pkgutil.extend_path",
        "locale.normalize",
        "secrets.compare_digest",
    ]
)

# C modules that re-export a public module's objects: a pattern on the public
# name covers them too ("os.*" also covers "posix.*").
ALIASES: Final = {
    "posix": "os",
    "nt": "os",
    "posixpath": "os.path",
    "ntpath": "os.path",
    "genericpath": "os.path",
    "_io": "io",
    "_socket": "socket",
    "_signal": "signal",
    "_datetime": "datetime",
    "_pydatetime": "datetime",
    "_random": "random",
    "_thread": "_thread",
    "_posixsubprocess": "subprocess",
}
