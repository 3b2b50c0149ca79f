"""Node cold starts from pre-started runtimes (sandbox/nodepool.py: Node blanks, STRATUS_NODE_PREFORK).

Observed from the host: after a first Node cold start the server keeps Node blanks (cgroups named
stratus-<instance>-blank-*, holding a reaper and a `node .../bootstrap.js` already running); a later cold
start's runtime is one of those processes (same start time as seen from inside, /proc/self/stat), started
before its function existed; two functions served by blanks see neither each other's variables, files,
processes nor code; STRATUS_NODE_PREFORK=0 keeps none (every Node cold start spawns)."""

from tests.e2e.test_python_prefork import cgroup_of, memory_limit, namespaced_server, runtimes_of, wait_for_blanks
from tests.e2e.test_python_zygote import ROLE, cmdline, start_ticks
from tests.support.server import invoke_json, make_zip

__all__ = ["namespaced_server"]

PROBE_APP = r"""
const fs = require('fs');
exports.handler = async (event) => {
  if (event.write) fs.writeFileSync('/tmp/mine', event.write);
  const read = (path) => { try { return fs.readFileSync(path, 'utf8'); } catch (err) { return err.code; } };
  const list = (path) => { try { return fs.readdirSync(path).sort(); } catch (err) { return [err.code]; } };
  return {
    start: Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[19]),
    secret: process.env.SECRET || null,
    secrets: Object.keys(process.env).filter((k) => k.startsWith('SECRET')),
    tmp: read('/tmp/mine'),
    pids: list('/proc').filter((name) => /^\d+$/.test(name)),
    task: list('/var/task'),
    sources: list('/var/stratus-sources'),
    uid: process.getuid(),
    name: process.env.AWS_LAMBDA_FUNCTION_NAME,
  };
};
"""


def test_node_cold_starts_take_pre_started_runtimes_that_see_nothing_of_each_other(namespaced_server):
    srv = namespaced_server()
    lam = srv.client()
    _create(lam, "warmup", "w", {"warm.js": "exports.handler = async () => 1;"}, "warm.handler")
    assert invoke_json(lam, "warmup", {})[1] == 1  # builds the Node zygote, which then starts its blanks
    blanks = wait_for_blanks(srv, 2)
    assert len(blanks) == 2, blanks
    waiting = runtimes_of(blanks)
    assert len(waiting) == 2
    assert all(b"/var/runtime/bootstrap.js" in cmdline(pid) and b"node" in cmdline(pid).split(b"\0")[0]
               for pid in waiting)
    ticks = {start_ticks(pid): pid for pid in waiting}

    _create(lam, "alpha", "alpha-secret", {"index.js": PROBE_APP}, "index.handler", MemorySize=192)
    _create(lam, "beta", "beta-secret", {"index.js": PROBE_APP, "only-beta.txt": "b"}, "index.handler")
    alpha = invoke_json(lam, "alpha", {"write": "alpha wrote this"})[1]
    beta = invoke_json(lam, "beta", {})[1]

    # Both runtimes are processes that were waiting before these functions were created.
    assert alpha["start"] in ticks and beta["start"] in ticks and alpha["start"] != beta["start"]
    # The taken blank's cgroup now bears the environment's limits: alpha's 192 MB.
    assert memory_limit(cgroup_of(ticks[alpha["start"]])) == 192 * 1024 * 1024
    # Each sees its own variables, code and /tmp only; its pid namespace holds pids 1 and 2; uid 993.
    assert (alpha["secret"], alpha["secrets"], alpha["name"]) == ("alpha-secret", ["SECRET"], "alpha")
    assert (beta["secret"], beta["secrets"], beta["name"]) == ("beta-secret", ["SECRET"], "beta")
    assert alpha["tmp"] == "alpha wrote this" and beta["tmp"] == "ENOENT"
    assert alpha["task"] == ["index.js"] and beta["task"] == ["index.js", "only-beta.txt"]
    assert alpha["pids"] == ["1", "2"] and beta["pids"] == ["1", "2"]
    assert alpha["sources"] == [] and beta["sources"] == []  # the zygote's view of every function's code: covered
    assert alpha["uid"] == 993 and beta["uid"] == 993
    # Warm again: the same environments answer (and alpha's /tmp is still its own).
    assert invoke_json(lam, "alpha", {})[1]["tmp"] == "alpha wrote this"


def test_node_prefork_0_spawns_every_node_cold_start(namespaced_server):
    srv = namespaced_server(STRATUS_NODE_PREFORK="0")
    lam = srv.client()
    _create(lam, "one", "s1", {"index.js": PROBE_APP}, "index.handler")
    _create(lam, "two", "s2", {"index.js": PROBE_APP}, "index.handler")
    assert invoke_json(lam, "one", {})[1]["secret"] == "s1"
    assert invoke_json(lam, "two", {})[1]["secret"] == "s2"
    assert wait_for_blanks(srv, 1, timeout_s=1.0) == {}  # (bounded wait for an event that must not happen)


def _create(lam, name, secret, files, handler, **kwargs):
    lam.create_function(FunctionName=name, Role=ROLE, Handler=handler, Runtime="nodejs20.x",
                        Code={"ZipFile": make_zip(files)}, Environment={"Variables": {"SECRET": secret}},
                        **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
