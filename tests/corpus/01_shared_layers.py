"""Learner submissions for 01_shared_layers (format: course/corpus.py).

The first cases get an exercise wrong; the ones after "A real classroom" are broken, slow,
tampered or hostile notebooks, each graded with exact points and a message. Points: test
cells test_ex1_shared_model 3, test_ex2_separate_model 3, test_ex3_prediction 2.
"""

import nbformat

from course.cells import cell_by_id
from course.corpus import (
    Submission,
    add_foreign_cell,
    delete_cell,
    delete_cells,
    duplicate_cell,
    edit_cell,
    full_marks,
    move_cells,
    no_marks,
)

# Exercise 1 done with two encoders: right shape, but nothing is shared.
TWO_ENCODERS = """keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
shared_encoder = layers.Dense(32, activation="relu", name="shared_encoder")
other_encoder = layers.Dense(32, activation="relu", name="other_encoder")
pair = layers.Concatenate(name="pair")([shared_encoder(a), other_encoder(b)])
shared_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
"""

# Exercise 2 done with one encoder called twice: the very thing exercise 2 must avoid.
ONE_ENCODER = """keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
encoder_a = layers.Dense(32, activation="relu", name="encoder_a")
encoder_b = encoder_a
pair = layers.Concatenate(name="pair")([encoder_a(a), encoder_b(b)])
separate_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
"""


# Both exercises right, the codes joined with keras.ops.concatenate instead of a layer: an
# operation in the graph owns no variables, and the checks step over it.
SHARED_WITH_OPS = """keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
shared_encoder = layers.Dense(32, activation="relu", name="shared_encoder")
pair = keras.ops.concatenate([shared_encoder(a), shared_encoder(b)], axis=-1)
shared_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
"""

SEPARATE_WITH_OPS = """keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
encoder_a = layers.Dense(32, activation="relu", name="encoder_a")
encoder_b = layers.Dense(32, activation="relu", name="encoder_b")
pair = ops.concatenate([encoder_a(a), encoder_b(b)], axis=-1)
separate_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
"""


def import_first(module: str, grade_id: str):
    """A transform: the (right) answer in ``grade_id`` starts by importing ``module``."""

    def transform(nb):
        answer = cell_by_id(nb, grade_id)
        answer.source = f"import {module}\n" + answer.source

    return transform


# The prediction of exercise 3, right (the shared kernel counted once).
RIGHT_PREDICTION = "predicted_params = (3 * 3 * 1 + 1) * 8 + (8 + 8 + 1) * 1\n"

# Makes every visible check pass, then builds the wrong model: the hidden tests use a
# fresh copy of the helpers (helpers.grading.pristine) and catch it.
CHECKS_SWITCHED_OFF = (
    "for _name in ('assert_output_shape', 'assert_separate_copies', 'assert_calls'):\n"
    "    setattr(helpers, _name, lambda *args, **kwargs: print('check passed (patched)'))\n"
) + ONE_ENCODER

# A loop that never ends: the learner forgot to move the counter.
ENDLESS = """count = 0
while count < 97:
    pass  # forgot: count += 1
predicted_params = count
"""

# Asks for 100 GiB, one MiB at a time, before answering.
MEMORY_BOMB = "hog = [bytearray(2**20) for _ in range(100 * 1024)]\n" + RIGHT_PREDICTION

# Finds the course through the installed helpers package and the grader's working folder
# (/proc), then tries to read the answers, write into the course and stop the grader.
BREAKS_OUT = (
    RIGHT_PREDICTION
    + """import os, pathlib, signal
course = pathlib.Path(helpers.__file__).resolve().parents[1]
def attempt(label, action):
    try:
        action()
        print(label + ": it worked")
    except Exception as error:
        print(label + ": " + type(error).__name__)
attempt("read the solutions", lambda: (course / "solutions" / "01_shared_layers" / \
"01_shared_layers.ipynb").read_text())
attempt("find the grader's folder", lambda: os.readlink(f"/proc/{os.getppid()}/cwd"))
attempt("write into the course", lambda: (course / "breaks-out-was-here.txt").write_text("x"))
def stop_grader():
    parent = os.getppid()
    if not parent:  # the first process of a box: no parent in sight
        raise ProcessLookupError("no parent process")
    os.kill(parent, signal.SIGTERM)
attempt("stop the grader", stop_grader)
"""
)

#: Marks the processes LEAVES_DAEMON starts; tests/pipeline/test_course_grade.py checks the
#: process table for it after grading.
DAEMON_MARKER = "course-corpus-daemon"
# A background job that leaves the kernel's session (double fork + setsid) and keeps
# trying to read other kernels' connection files (to run code in them).
SPY = f"""import glob, time
while True:
    for path in glob.glob("/tmp/course-grade-*/kernel-*.json"):
        try:
            open(path).read()
        except OSError:
            pass
    time.sleep(1)  # {DAEMON_MARKER}
"""
LEAVES_DAEMON = (
    RIGHT_PREDICTION
    + f"""import os, subprocess, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", {SPY!r}])
    os._exit(0)
os.wait()
subprocess.Popen([sys.executable, "-c", {SPY!r}], start_new_session=True)
print("daemon started")
"""
)
# What else a notebook could reach on the grader's machine.
PROBES = (
    RIGHT_PREDICTION
    + """import os, socket
def attempt(label, action):
    try:
        action()
        print(label + ": it worked")
    except Exception as error:
        print(label + ": " + type(error).__name__)
attempt("write shared memory", lambda: open("/dev/shm/probe-was-here", "w").write("x"))
attempt("write a device", lambda: open("/dev/probe-was-here", "w").write("x"))
attempt("write /dev/null", lambda: open(os.devnull, "w").write("x"))
attempt("open a connection", lambda: socket.create_connection(("127.0.0.1", 1), timeout=5))
print("grader variables:", sorted(k for k in os.environ if k.startswith(("PYTEST", "JUPYTERHUB", \
"GITHUB"))) or "none")
"""
)


# Issue 23: the kernel box ------------------------------------------------------------------
# Each grading kernel runs in a box of its own (course/isolation), in both graders. These
# notebooks reach for what the box leaves out; each probe prints "blocked" when it cannot.
# The other learners of the same run (every case above) are the victims the box protects.

#: UNIX sockets of a service the test suite runs on the host (tests/pipeline/conftest.py).
SERVICE_SOCKETS = "/tmp/course-corpus-service-*.sock"

PROBE = """import glob, json, os, socket, struct
def attempt(label, action):
    try:
        action()
        print(label + ": reached")
    except OSError:
        print(label + ": blocked")
def nothing(found):
    if not found:
        raise FileNotFoundError("nothing there")
    return found
def connect_all(paths):
    for path in nothing(paths):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(path)
        yield sock
"""


def probe(body: str) -> str:
    """The right prediction, then ``body`` with :data:`PROBE`'s ``attempt`` and friends."""
    return RIGHT_PREDICTION + PROBE + body


# Sends the warm parent one request nested 100 000 levels deep (what killed it once), its
# folder read from the kernel's own command line (a forked kernel shows its parent's).
MALFORMED_REQUEST = probe(
    """def warm_parent():
    args = open("/proc/self/cmdline", "rb").read().split(b"\\0")
    folders = [a.decode() for a in args if a.startswith(b"/") and b"forking" in a]
    folders += glob.glob("/tmp/course-forking*/*") + glob.glob("/run/user/*/course-forking/*")
    for sock in connect_all([os.path.join(f, "socket") for f in folders]):
        data = b"[" * 100000
        sock.sendall(struct.pack(">I", len(data)) + data)
attempt("the warm parent", warm_parent)
"""
)
# The teacher's tmux or screen, a D-Bus bus, docker: sockets that run commands with the
# teacher's rights.
HOST_SOCKETS = probe(
    """patterns = ["/tmp/tmux-*/*", "/tmp/screen*/*", "/run/screen/*/*", "/run/user/*/bus",
            "/run/dbus/system_bus_socket", "/var/run/docker.sock", "/run/docker.sock"]
attempt("the teacher's sockets", lambda: list(connect_all(
    [p for pattern in patterns for p in glob.glob(pattern)])))
"""
)
# Replaces the warm parent every learner's and teacher's kernels fork from.
REPLACES_PARENT = probe(
    """def user_wide_parent():
    base = os.environ.get("XDG_RUNTIME_DIR", "") + "/course-forking"
    found = glob.glob(base + "/*/socket") + glob.glob(f"/tmp/course-forking-{os.getuid()}/*/socket")
    for path in nothing(found):
        os.remove(path)  # the next kernel would start a parent of ours
attempt("the user-wide warm parent", user_wide_parent)
"""
)
# Polls where the scratch folders are for other learners' notebooks while they are graded.
POLLS_SCRATCH = probe(
    """mine = os.getcwd()
roots = ["/tmp", os.path.dirname(os.path.dirname(os.path.dirname(mine)))]
found = [p for root in roots for p in glob.glob(root + "/**/*.ipynb", recursive=True)
         if not p.startswith(mine + os.sep)]
attempt("other learners' notebooks", lambda: [open(p).read() for p in nothing(found)])
"""
)
# Reads the grading account's home, and every home: tokens, SSH keys, Jupyter's files.
READS_HOMES = probe(
    """patterns = ["/root/.ssh/*", "/home/*/.ssh/*", "/root/.jupyter/*", "/home/*/.jupyter/*",
            "/root/.local/share/jupyter/runtime/*", "/home/*/.bash_history",
            "/root/.bash_history"]
attempt("secrets in home folders", lambda: [open(p).read() for p in nothing(
    [p for pattern in patterns for p in glob.glob(pattern) if os.path.isfile(p)])])
"""
)
# Writes 3 GiB of files in its scratch folder (64 MiB at a time), then deletes them.
FILLS_SCRATCH = probe(
    """def fill():
    block = bytes(64 * 2**20)
    try:
        for n in range(48):
            with open(f"fill-{n}.bin", "wb") as file:
                file.write(block)
    finally:
        for path in glob.glob("fill-*.bin"):
            os.remove(path)
attempt("3 GiB of files", fill)
"""
)
# Honest: saves the best weights under the system's temporary folder, as Keras's own
# example of ModelCheckpoint does.
CHECKPOINT_IN_TMP = (
    RIGHT_PREDICTION
    + """import os, tempfile
import numpy as np
path = os.path.join(tempfile.gettempdir(), "best.weights.h5")
probe_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
probe_model.compile(optimizer="sgd", loss="mse")
probe_model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=1, verbose=0, callbacks=[
    keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
print("checkpoint written:", os.path.exists(path))
"""
)
# Forks until it cannot (the children end at once), then collects them.
FORK_BOMB = probe(
    """children = []
try:
    while len(children) < 100000:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        children.append(pid)
except OSError as error:
    print("fork bomb stopped:", type(error).__name__)
for pid in children:
    os.waitpid(pid, 0)
"""
)
# Holds 3 GiB in in-memory files (memfd), 256 MiB each (under the file size limit), written
# without mapping them: no resident memory to see, no heap to limit. Only the box's memory
# cgroup counts them: it ends the kernel in this cell.
HOARDS_MEMFD = (
    RIGHT_PREDICTION
    + """import os
block = bytes(64 * 2**20)
hoard = []
for n in range(12):
    fd = os.memfd_create(f"hoard{n}")
    for _ in range(4):
        os.write(fd, block)
    hoard.append(fd)
print("3 GiB held in memfd files")
"""
)
# The same through POSIX shared memory (/dev/shm): the box's own, in the box's tmpfs, whose
# cap (half the memory limit) stops it with an error the notebook can catch.
HOARDS_DEV_SHM = probe(
    """def hoard():
    block = bytes(64 * 2**20)
    try:
        for n in range(48):
            with open(f"/dev/shm/hoard-{n}", "wb") as file:
                file.write(block)
    finally:
        for path in glob.glob("/dev/shm/hoard-*"):
            os.remove(path)
attempt("3 GiB in /dev/shm", hoard)
"""
)
# Looks for SysV shared memory segments of others (the test suite makes one).
SYSV_SHM = probe(
    """attempt("others' SysV shared memory", lambda: nothing(
    open("/proc/sysvipc/shm").read().splitlines()[1:]))
"""
)
SERVICE_SOCKET = probe(
    f"""attempt("the test's service", lambda: list(connect_all(glob.glob({SERVICE_SOCKETS!r}))))
"""
)
# Sends the warm parent half a request, one byte at a time, and never the rest.
SLOW_REQUEST = probe(
    """def trickle():
    folders = glob.glob("/tmp/course-forking*/*") + glob.glob("/run/user/*/course-forking/*")
    args = open("/proc/self/cmdline", "rb").read().split(b"\\0")
    folders += [a.decode() for a in args if a.startswith(b"/") and b"forking" in a]
    for sock in connect_all([os.path.join(f, "socket") for f in folders]):
        for byte in b"\\0\\0\\0\\x10{":
            sock.send(bytes([byte]))
attempt("the warm parent, slowly", trickle)
"""
)
# Reads the grader's processes: their command lines and environments.
READS_GRADER_PROC = probe(
    """others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
attempt("the grader's processes", lambda: [open(f"/proc/{p}/environ", "rb").read()
                                          for p in nothing(others)])
"""
)


def sets_backend_first(nb):
    """The (unlocked) setup cell picks another Keras backend before importing Keras: one
    this environment lacks, so every later cell fails, as in a fresh kernel."""
    nb.cells[1].source = 'import os\nos.environ["KERAS_BACKEND"] = "torch"\n' + nb.cells[1].source
    return nb


# --- Tampering with the grader (issue 10): each is flagged for manual grading, or cannot
# change a grade. The kit's integrity preprocessors run in both graders.

# (a) Replaces the hidden tests' entry point: helpers.grading refuses the new value, and the
# grader reads the assignment in the cell before running it.
REPLACES_PRISTINE = (
    ONE_ENCODER + "import helpers.grading\nhelpers.grading.pristine = lambda: helpers\n"
)

# (a) Puts a fake helpers.grading in the table of imported modules.
SWAPS_SYS_MODULES = """predicted_params = 177
import sys, types
fake = types.ModuleType("helpers.grading")
class _Lenient:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None
fake.pristine = _Lenient
sys.modules["helpers.grading"] = fake
"""

# (a) Wraps the built-in import (a hook that could hand out fake modules).
# (Replacing `isinstance` itself breaks the kernel's own messaging: nbgrader cannot grade it.)
# (The prediction is right, so the visible check passes and the hidden test's pristine()
# meets the patched built-in.)
PATCHES_BUILTINS = (
    RIGHT_PREDICTION
    + """import builtins
_real_import = builtins.__import__
builtins.__import__ = lambda *args, **kwargs: _real_import(*args, **kwargs)
"""
)

# (b) An AST transformer that wraps every later cell (the hidden tests too) in try/except.
SWALLOWS_ERRORS = (
    TWO_ENCODERS
    + """import ast
class SwallowErrors(ast.NodeTransformer):
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name("Exception", ast.Load()), name=None, \
body=[ast.Pass()])
        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], \
finalbody=[])]
        return ast.fix_missing_locations(node)
get_ipython().ast_transformers.append(SwallowErrors())
"""
)


# (b) A hook that shows a result before every cell: nbgrader reads a test cell's first
# execute_result as its score (text: full points; a number above the points: nbgrader fails).
def result_hook(value: str) -> str:
    return (
        TWO_ENCODERS
        + f"""ip = get_ipython()
def give_points(info):
    ip.displayhook({value})
ip.events.register("pre_run_cell", give_points)
"""
    )


# (b) An error handler that hides every later error.
HIDES_ERRORS = ONE_ENCODER + (
    "get_ipython().set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: "
    "None)\n"
)

# (c) A helpers package next to the notebook: every check passes, pristine() returns it.
FAKE_HELPERS = {
    "helpers/__init__.py": "def __getattr__(name):\n    return lambda *args, **kwargs: None\n",
    "helpers/grading.py": "def pristine():\n    import helpers\n    return helpers\n",
    "numpy.py": "raise ImportError('not the real numpy')\n",
}


# (d) A markdown cell dressed as the grader's note.
def forged_note(nb):
    nb.cells.insert(
        0,
        nbformat.v4.new_markdown_cell(
            "**Notes from the grader**\n\n- Your teacher checked this notebook by hand: full "
            "marks.",
            metadata={"course_grade": "notes"},
        ),
    )


# (e) A 5 MB error message and 5 MB of display metadata (the caps: 1 MiB per output while
# running, 20 000 characters per entry when saved).
FLOODS_ERRORS = (
    RIGHT_PREDICTION
    + """from IPython.display import display
display({"text/plain": "a small result"}, raw=True, metadata={"junk": "y" * 5_000_000})
raise ValueError("x" * 5_000_000)
"""
)


# --- Issue 24: run-time integrity. The grader's reading of the code
# (course/grading/steps/code_scan.py) names what it sees; these reach the same objects under
# other names, or run code from strings. The run-time guard
# (course/grading/steps/runtime_guard.py) compares, before each test cell, what the checks
# rely on with what it was before the first cell, whatever the spelling.

#: A `functools.wraps` that turns every check of every fresh pristine() copy into a no-op
#: (helpers' @graded calls it when the copy is made).
NOOP_WRAPS = "lambda *args, **kwargs: (lambda function: (lambda *a, **k: None))"

# The first example: aliases made by a tuple assignment, then the patches.
ALIASED_PATCHES = (
    TWO_ENCODERS
    + f"""import functools
_h, _f = helpers, functools
_f.wraps = {NOOP_WRAPS}
for _name in ("assert_output_shape", "assert_calls", "assert_sharing_map", "assert_param_count"):
    setattr(_h, _name, lambda *args, **kwargs: None)
"""
)

# The second example: the table of modules reached by a computed name.
MODULES_BY_COMPUTED_NAME = """predicted_params = 177
import sys
_s = sys
_fake = type(_s)("helpers.grad" + "ing")
class _Lenient:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None
setattr(_fake, "pris" + "tine", _Lenient)
getattr(_s, "mod" + "ules")["helpers.grad" + "ing"] = _fake
"""

# The third example: `exec` reached through `print.__self__`, on rot13 text.
_PAYLOAD = f"import functools\nfunctools.wraps = {NOOP_WRAPS}\n"
EXEC_ROT13 = ONE_ENCODER + (
    "import codecs\n"
    f"_source = {__import__('codecs').encode(_PAYLOAD, 'rot13')!r}\n"
    'getattr(print.__self__, "".join(["ex", "ec"]))(codecs.decode(_source, "rot13"))\n'
)
# base64 text compiled by a `compile` found by name, run as a function built from the code.
COMPILED_FUNCTION = (
    "predicted_params = 177\n"
    "import base64\n"
    f"_text = base64.b64decode({__import__('base64').b64encode(_PAYLOAD.encode())!r}).decode()\n"
    '_code = getattr(getattr(print, "__se" + "lf__"), "comp" + "ile")(_text, "x", "exec")\n'
    "type(lambda: 0)(_code, {})()\n"
)
# A built-in replaced through `print.__self__` (it still works: harmless, but changed).
BUILTIN_BY_SELF = (
    RIGHT_PREDICTION
    + """_b = getattr(print, "__se" + "lf__")
_len = _b.len
setattr(_b, "len", lambda obj: _len(obj))
"""
)
# A check's module reached through a function's globals.
THROUGH_GLOBALS = (
    SEPARATE_WITH_OPS
    + """_check = helpers.assert_calls
_g = getattr(_check, "__glo" + "bals__")
_g["fail"] = lambda *args, **kwargs: None
"""
)
# `vars()` of the package (the reading rule names it too).
THROUGH_VARS = SHARED_WITH_OPS + 'vars(helpers)["assert_calls"] = lambda *args, **kwargs: None\n'
# The standard library functions the checks use, replaced through sys.modules.
STDLIB_THROUGH_MODULES = (
    RIGHT_PREDICTION
    + """import sys
_s = sys
_m = getattr(_s, "mod" + "ules")
_spec = _m["importlib.util"].spec_from_file_location
_m["importlib.util"].spec_from_file_location = lambda *args, **kwargs: _spec(*args, **kwargs)
_m["inspect"].getsource = lambda *args, **kwargs: ""
"""
)
# The objects that refer to helpers, a tracer, and a byte of memory: refused or reported
# the moment they happen.
HATCHES = (
    RIGHT_PREDICTION
    + """import sys
_s = sys
_m = getattr(_s, "mod" + "ules")
for _attempt in (lambda: _m["gc"].get_referrers(helpers),
                 lambda: getattr(_s, "set" + "trace")(lambda *args: None)):
    try:
        _attempt()
    except Exception as error:
        print("refused:", type(error).__name__)
_byte = _m["ctypes"].c_char.from_address(id(helpers)).value
"""
)
# Harmless: aliases, a long sum and many magics are ordinary code; nothing is flagged.
HARMLESS_ALIASES = """_k, _l = keras, layers
_keras_again = [_k][0]
_k.backend.clear_session()
a = _k.Input((64,), name="a")
b = _k.Input((64,), name="b")
shared_encoder = _l.Dense(32, activation="relu", name="shared_encoder")
pair = _l.Concatenate(name="pair")([shared_encoder(a), shared_encoder(b)])
shared_model = _keras_again.Model([a, b], _l.Dense(1, activation="sigmoid", name="head")(pair))
"""
# (600 terms: the grader's old recursive reading failed on them; IPython runs them. At 1,000
# terms IPython's own compiler gives up: tests/course/grading/steps/test_integrity.py reads those.)
LONG_SUM = "predicted_params = " + " + ".join(["1"] * 600) + " - 503\n"
# (Above 50 magic lines the reading is a linear rewrite, not IPython's transformers.)
MANY_MAGICS = "\n".join(["%time 0"] * 60 + ["0"] * 2_000) + "\n" + RIGHT_PREDICTION
RUNTIME = "ran, the grader found what the checks rely on changed by the code above it"


def switches_backend(nb):
    """The setup cell picks the JAX backend before importing Keras, by `os.environ.update`
    (no `KERAS_BACKEND` string for a reading rule to find): every answer is right on JAX. A
    warm kernel must import Keras again, as a fresh one would (course/import_rule.py)."""
    setup = nb.cells[1]
    setup.source = 'import os\nos.environ.update(KERAS_BACKEND="jax")\n' + setup.source
    setup.source += '\nprint("backend:", keras.backend.backend())\n'
    return nb


FLAGGED = "score 0 until your teacher grades them by hand"
ALL_TESTS = ["test_ex1_shared_model", "test_ex2_separate_model", "test_ex3_prediction"]

CASES = [
    Submission("correct", expected=full_marks()),
    Submission(
        "untouched", base="blank", expected=no_marks(), feedback_contains=["NotImplementedError"]
    ),
    Submission(
        "correct_with_ops",
        answers={"ex1_shared_model": SHARED_WITH_OPS, "ex2_separate_model": SEPARATE_WITH_OPS},
        expected=full_marks(),
    ),
    Submission(
        "two_encoders",
        answers={"ex1_shared_model": TWO_ENCODERS},
        expected=full_marks(except_={"test_ex1_shared_model": 0}),
        feedback_contains=["Layer 'shared_encoder' should be called 2 times"],
    ),
    Submission(
        "one_encoder_twice",
        answers={"ex2_separate_model": ONE_ENCODER},
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["has no layer named 'encoder_b'", "'encoder_a' is called 2 times"],
    ),
    Submission(
        "counts_conv_twice",
        answers={"ex3_prediction": "predicted_params = 2 * (3 * 3 * 1 + 1) * 8 + (8 + 8 + 1) * 1"},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        # The visible check says which rule to recount with, not the answer.
        feedback_contains=[
            "predicted_params is 177: not the parameter count of 'mystery'.",
            "Count each layer with its rule",
            "'conv', Conv2D(filters=8",
        ],
    ),
    Submission(
        "ex3-check-switched-off",  # the hidden test judges the number, and then shows it
        answers={
            "ex3_prediction": "helpers.assert_predicted_count = lambda *args, **kwargs: None\n"
            "predicted_params = 2 * (3 * 3 * 1 + 1) * 8 + (8 + 8 + 1) * 1"
        },
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=[
            "Your prediction is right.",
            "predicted_params is 177, but 'mystery' has 97 parameters",
            "its kernel is counted once",
        ],
        # Patching the check is also flagged (course/grading/steps/code_scan.py): the test waits for
        # the teacher.
        integrity_note=[
            "assigns to `helpers.assert_predicted_count` (an attribute of an imported module)",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
    ),
    # A real classroom -----------------------------------------------------------------
    Submission(
        "cell_raises",
        answers={"ex2_separate_model": "raise RuntimeError('I will finish this tomorrow')"},
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["I will finish this tomorrow", "name 'separate_model' is not defined"],
    ),
    Submission(
        "imports_missing_module",  # a right answer, but the cell stops at its first line
        transform=import_first("keras_contrib", "ex1_shared_model"),
        expected=full_marks(except_={"test_ex1_shared_model": 0}),
        feedback_contains=["No module named 'keras_contrib'", "name 'shared_model' is not defined"],
    ),
    Submission(
        "infinite_loop",
        answers={"ex3_prediction": ENDLESS},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["this cell ran longer than the time allowed per cell"],
        course_grade_note_contains=[
            "(`ex3_prediction`) ran longer than the time limit for one cell"
        ],
    ),
    # The test cell is put back from the gradebook (OverwriteCells.add_missing_cells).
    Submission(
        "deletes_test_cell",
        answers={"ex2_separate_model": ONE_ENCODER},
        transform=delete_cell("test_ex2_separate_model"),
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["has no layer named 'encoder_b'"],
        note_contains=[
            "`test_ex2_separate_model` were missing from your notebook; the grader added them back"
        ],
    ),
    Submission(
        "deletes_answer_cell",
        transform=delete_cell("ex3_prediction"),
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["name 'predicted_params' is not defined"],
        note_contains=[
            "Answer cell(s) `ex3_prediction` were missing from your notebook; the tests ran "
            "without them"
        ],
    ),
    # Ordinary edits, graded on what the notebook did (course/grading/steps/fairness.py) -----
    # A whole exercise deleted: its test is put back after the exercise's statement, fails
    # without the answer, and the other exercises keep their points (6/8).
    Submission(
        "deletes_exercise",
        transform=delete_cells("ex3_prediction", "test_ex3_prediction"),
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["name 'predicted_params' is not defined"],
        note_contains=[
            "Graded cell(s) `test_ex3_prediction` were missing from your notebook; the grader "
            "added them back",
            "Answer cell(s) `ex3_prediction` were missing",
        ],
    ),
    # Copy and paste: every copy runs where it stands; the last copy carries the grade id.
    Submission(
        "copies_answer_cell",
        transform=duplicate_cell("ex1_shared_model"),
        expected=full_marks(),
        note_contains=[
            "Cell `ex1_shared_model` appears 2 times in your notebook. Every copy ran where it "
            "stands"
        ],
    ),
    Submission(
        "copies_test_cell",
        answers={"ex2_separate_model": ONE_ENCODER},
        transform=duplicate_cell("test_ex2_separate_model"),
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["has no layer named 'encoder_b'"],
        note_contains=["Cell `test_ex2_separate_model` appears 2 times"],
    ),
    # A graded cell of another lesson pasted in: it runs (and fails) as an ordinary cell.
    Submission(
        "pastes_foreign_cell",
        transform=add_foreign_cell(
            "ex1_shared_model", "test_counted_params", "assert counted_params == 17"
        ),
        expected=full_marks(),
        feedback_contains=["name 'counted_params' is not defined"],
        note_contains=[
            "is marked as `test_counted_params`, a cell this lesson does not have",
            "it ran as an ordinary cell and is not graded",
        ],
    ),
    # Exercise 1 (statement, answer, test) moved to the end: it still passes there.
    Submission(
        "moves_exercise",
        transform=move_cells("ex1_statement", "test_ex1_shared_model"),
        expected=full_marks(),
        note_contains=[
            "Some of your cells are in another order than in the lesson; they ran in your order"
        ],
    ),
    # The answer of exercise 3 moved below its test: the test ran first, without it.
    Submission(
        "moves_answer_below_test",
        transform=move_cells("ex3_prediction", "ex3_prediction"),
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["name 'predicted_params' is not defined"],
        note_contains=["Some of your cells are in another order than in the lesson"],
    ),
    # Emptying a read-only test cell: it is restored from the source and graded as written.
    Submission(
        "edits_test_cell",
        answers={"ex1_shared_model": TWO_ENCODERS},
        transform=edit_cell("test_ex1_shared_model", "print('all good, trust me')"),
        expected=full_marks(except_={"test_ex1_shared_model": 0}),
        feedback_contains=["Layer 'shared_encoder' should be called 2 times"],
        note_contains=[
            "You edited read-only cell(s) `test_ex1_shared_model`; the original was put back"
        ],
    ),
    # Patching the visible checks does not fool the hidden ones, and is flagged.
    Submission(
        "patches_checks",
        answers={"ex2_separate_model": CHECKS_SWITCHED_OFF},
        expected=full_marks(except_={"test_ex2_separate_model": 0, "test_ex3_prediction": 0}),
        feedback_contains=["check passed (patched)"],
        integrity_note=[
            "(`ex2_separate_model`) changes how grading runs: calls `setattr` on the module "
            "`helpers`",
            f"`test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex2_separate_model", "test_ex3_prediction"],
    ),
    # Tampering with the grader (see above) ------------------------------------------------
    Submission(
        "replaces_pristine",
        answers={"ex2_separate_model": REPLACES_PRISTINE},
        expected=full_marks(except_={"test_ex2_separate_model": 0, "test_ex3_prediction": 0}),
        feedback_contains=["helpers.grading is read-only: pristine cannot be replaced"],
        integrity_note=[
            "(`ex2_separate_model`) changes how grading runs: ",
            "assigns to `helpers.grading.pristine` (an attribute of an imported module)",
            f"`test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex2_separate_model", "test_ex3_prediction"],
    ),
    Submission(
        "swaps_sys_modules",
        answers={"ex3_prediction": SWAPS_SYS_MODULES},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        integrity_note=[
            "(`ex3_prediction`) changes how grading runs: ",
            "uses `.modules` (the table of imported modules)",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "patches_builtins",
        answers={"ex3_prediction": PATCHES_BUILTINS},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["GRADING MACHINERY CHANGED: the built-in `__import__` was replaced"],
        integrity_note=["assigns to `builtins.__import__`", f"`test_ex3_prediction` {FLAGGED}"],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "ast_transformer",
        answers={"ex1_shared_model": SWALLOWS_ERRORS},
        expected=no_marks(),
        integrity_note=[
            "(`ex1_shared_model`) changes how grading runs: ",
            "uses `.ast_transformers` (IPython's AST transformers, which rewrite every later cell)",
            f"`test_ex1_shared_model`, `test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=ALL_TESTS,
    ),
    Submission(
        "hook_text_score",
        answers={"ex1_shared_model": result_hook('"full marks"')},
        expected=no_marks(),
        integrity_note=[
            "uses `.events` (IPython event hooks)",
            "(`test_ex1_shared_model`) showed output the kit's tests never produce "
            "(execute_result)",
            f"`test_ex1_shared_model`, `test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=ALL_TESTS,
    ),
    Submission(
        "hook_score_above_points",
        answers={"ex1_shared_model": result_hook("99")},
        expected=no_marks(),
        integrity_note=[
            "uses `.displayhook` (how results are shown)",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=ALL_TESTS,
    ),
    Submission(
        "custom_exc",
        answers={"ex2_separate_model": HIDES_ERRORS},
        expected=full_marks(except_={"test_ex2_separate_model": 0, "test_ex3_prediction": 0}),
        integrity_note=[
            "uses `.set_custom_exc` (IPython's error handler)",
            f"`test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex2_separate_model", "test_ex3_prediction"],
    ),
    # Removed before grading: the kit's helpers grade, so the wrong model loses its points.
    Submission(
        "shadows_helpers",
        answers={"ex2_separate_model": ONE_ENCODER},
        extra_files=FAKE_HELPERS,
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["has no layer named 'encoder_b'"],
        integrity_note=[
            "Files that would replace modules the grader uses were removed before grading: "
            "`helpers/`, `numpy.py`."
        ],
    ),
    Submission(
        "forges_notes",
        transform=forged_note,
        expected=full_marks(),
        integrity_note=["Cell 1 is made to look like the grader's notes; it was marked as yours."],
    ),
    Submission(
        "floods_errors",
        answers={"ex3_prediction": FLOODS_ERRORS},
        expected=full_marks(),
        feedback_contains=["a small result", "ValueError", "Output truncated"],
    ),
    Submission(
        "not_json",
        transform=lambda nb: b'{"cells": [{"cell_type": "code", "source": "shared_model = ',
        expected=no_marks(),
        grading_fails=True,
        course_grade_note_contains=["is not a notebook: its content is not valid JSON"],
    ),
    # Only `course grade` grades these: a memory limit, a sandbox (plain nbgrader has neither).
    Submission(
        "memory_bomb",
        answers={"ex3_prediction": MEMORY_BOMB},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["MemoryError"],
        # Stopped by the heap limit (a MemoryError: "ran out of memory (the grading limit is
        # 2 GiB)") or, as root, by the box's memory cgroup ("it used more than 2 GiB of
        # memory"): which one comes first depends on how the pages are touched.
        course_grade_note_contains=["(`ex3_prediction`)", "memory", "2 GiB"],
        course_grade_only=True,
    ),
    Submission(
        "breaks_out",
        answers={"ex3_prediction": BREAKS_OUT},
        expected=full_marks(),
        # In the box: the course is not there, its root is read-only, it has no parent.
        feedback_contains=[
            "read the solutions: FileNotFoundError",
            "find the grader's folder: FileNotFoundError",
            "write into the course: OSError",
            "stop the grader: ProcessLookupError",
        ],
        course_grade_only=True,
        needs_box=True,
    ),
    # Processes the notebook starts die with its kernel (a cgroup, or its process family);
    # starting processes is also flagged for manual grading (course/grading/steps/code_scan.py).
    Submission(
        "leaves_daemon",
        answers={"ex3_prediction": LEAVES_DAEMON},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["daemon started"],
        integrity_note=[
            "(`ex3_prediction`) changes how grading runs: imports `subprocess` (starts processes)",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
        course_grade_only=True,
    ),
    Submission(
        "probes_the_machine",
        answers={"ex3_prediction": PROBES},
        expected=full_marks(),
        # In the box: /dev/shm is its own (the host's stays clean: test_course_grade.py),
        # /dev is read-only, TCP is denied (Landlock).
        feedback_contains=[
            "write shared memory: it worked",
            "write a device: OSError",
            "write /dev/null: it worked",
            "open a connection: PermissionError",
            "grader variables: none",
        ],
        course_grade_only=True,
        needs_box=True,
    ),
    # Both graders: the warm kernel of course grade must not have imported Keras already.
    Submission(
        "sets_keras_backend",
        transform=sets_backend_first,
        expected=no_marks(),
        feedback_contains=["No module named 'torch'"],
    ),
    # Issue 23: the kernel box
    Submission(
        "box_malformed_request",
        answers={"ex3_prediction": MALFORMED_REQUEST},
        expected=full_marks(),
        feedback_contains=["the warm parent: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_host_sockets",
        answers={"ex3_prediction": HOST_SOCKETS},
        expected=full_marks(),
        feedback_contains=["the teacher's sockets: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_replaces_parent",
        answers={"ex3_prediction": REPLACES_PARENT},
        expected=full_marks(),
        feedback_contains=["the user-wide warm parent: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_polls_scratch",
        answers={"ex3_prediction": POLLS_SCRATCH},
        expected=full_marks(),
        feedback_contains=["other learners' notebooks: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_reads_homes",
        answers={"ex3_prediction": READS_HOMES},
        expected=full_marks(),
        feedback_contains=["secrets in home folders: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_fills_scratch",
        answers={"ex3_prediction": FILLS_SCRATCH},
        expected=full_marks(),
        feedback_contains=["3 GiB of files: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_checkpoint_in_tmp",
        answers={"ex3_prediction": CHECKPOINT_IN_TMP},
        expected=full_marks(),
        feedback_contains=["checkpoint written: True"],
    ),
    Submission(
        "box_fork_bomb",
        answers={"ex3_prediction": FORK_BOMB},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["fork bomb stopped: BlockingIOError"],
        integrity_note=[
            "(`ex3_prediction`) changes how grading runs: calls `os.fork` (starts programs)",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
        needs_box=True,
    ),
    Submission(
        "box_hoards_memfd",
        answers={"ex3_prediction": HOARDS_MEMFD},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["The grader stopped this cell: it used more than 2 GiB of memory"],
        note_contains=[
            "(`ex3_prediction`): it used more than 2 GiB of memory (shared memory and "
            "in-memory files included). The cells after it were not run"
        ],
        needs_box=True,
        needs_memory_cap=True,
    ),
    Submission(
        "box_hoards_dev_shm",
        answers={"ex3_prediction": HOARDS_DEV_SHM},
        expected=full_marks(),
        feedback_contains=["3 GiB in /dev/shm: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_sysv_shm",
        answers={"ex3_prediction": SYSV_SHM},
        expected=full_marks(),
        feedback_contains=["others' SysV shared memory: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_service_socket",
        answers={"ex3_prediction": SERVICE_SOCKET},
        expected=full_marks(),
        feedback_contains=["the test's service: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_slow_request",
        answers={"ex3_prediction": SLOW_REQUEST},
        expected=full_marks(),
        feedback_contains=["the warm parent, slowly: blocked"],
        needs_box=True,
    ),
    Submission(
        "box_reads_grader_proc",
        answers={"ex3_prediction": READS_GRADER_PROC},
        expected=full_marks(),
        feedback_contains=["the grader's processes: blocked"],
        needs_box=True,
    ),
    # Issue 24: run-time integrity
    Submission(
        "rt-aliased-patches",
        answers={
            "ex1_shared_model": ALIASED_PATCHES,
            "ex2_separate_model": ONE_ENCODER,
            "ex3_prediction": "predicted_params = 177",
        },
        expected=no_marks(),
        integrity_note=[
            f"(`test_ex1_shared_model`) {RUNTIME}",
            "`functools.wraps` was replaced",
            f"`test_ex1_shared_model`, `test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=ALL_TESTS,
    ),
    Submission(
        "rt-modules-computed-name",
        answers={"ex3_prediction": MODULES_BY_COMPUTED_NAME},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        integrity_note=[
            f"(`test_ex3_prediction`) {RUNTIME}",
            "`helpers.grading.pristine` is not the grader's function",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "rt-exec-rot13",
        answers={"ex2_separate_model": EXEC_ROT13, "ex3_prediction": "predicted_params = 177"},
        expected=full_marks(except_={"test_ex2_separate_model": 0, "test_ex3_prediction": 0}),
        integrity_note=[
            f"(`test_ex2_separate_model`) {RUNTIME}",
            "ran code built from a string at run time",
            "`functools.wraps` was replaced",
            f"`test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex2_separate_model", "test_ex3_prediction"],
    ),
    Submission(
        "rt-compiled-function",
        answers={"ex3_prediction": COMPILED_FUNCTION},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        integrity_note=[
            "ran code built from a string at run time",
            "`functools.wraps` was replaced",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "rt-builtin-by-self",
        answers={"ex3_prediction": BUILTIN_BY_SELF},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        integrity_note=["the built-in `len` was replaced", f"`test_ex3_prediction` {FLAGGED}"],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "rt-through-globals",
        answers={"ex2_separate_model": THROUGH_GLOBALS},
        expected=full_marks(except_={"test_ex2_separate_model": 0, "test_ex3_prediction": 0}),
        integrity_note=[
            "`helpers.checks._common.fail` was replaced",
            f"`test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex2_separate_model", "test_ex3_prediction"],
    ),
    Submission(
        "rt-through-vars",
        answers={"ex1_shared_model": THROUGH_VARS},
        expected=no_marks(),
        integrity_note=[
            "reaches object variables by computed names (`vars()`)",
            "`helpers.assert_calls` was replaced",
            f"`test_ex1_shared_model`, `test_ex2_separate_model`, `test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=ALL_TESTS,
    ),
    Submission(
        "rt-stdlib-through-modules",
        answers={"ex3_prediction": STDLIB_THROUGH_MODULES},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        integrity_note=[
            "`importlib.util.spec_from_file_location` was replaced",
            "`inspect.getsource` was replaced",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "rt-hatches",
        answers={"ex3_prediction": HATCHES},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["refused: PermissionError"],
        integrity_note=[
            "searched the objects that refer to an object (`gc.get_referrers`)",
            "installed a tracer that runs inside every call (`sys.settrace`)",
            "used `ctypes` (`ctypes.cdata`)",
            f"`test_ex3_prediction` {FLAGGED}",
        ],
        manual_grade=["test_ex3_prediction"],
    ),
    Submission(
        "rt-harmless-aliases",
        answers={"ex1_shared_model": HARMLESS_ALIASES, "ex3_prediction": LONG_SUM},
        expected=full_marks(),
    ),
    Submission(
        "rt-many-magics",
        answers={"ex3_prediction": MANY_MAGICS},
        expected=full_marks(),
    ),
    # One rule for import-time settings: the same (right) grade from both graders.
    Submission(
        "rt-switches-backend",
        transform=switches_backend,
        expected=full_marks(),
        feedback_contains=["backend: jax"],
    ),
]
